//! Which device the model runs on: `auto` (CUDA when libtorch sees a GPU, else CPU), `cpu` or `cuda`.
//! Asking for CUDA where there is none is an error, never a silent fallback.

use serde::{Deserialize, Serialize};

/// The device requested on the command line or in a config (`--device auto|cpu|cuda`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
#[value(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA device 0 when `tch::Cuda::is_available()`, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device 0; an error where CUDA is not available.
    Cuda,
}

/// Error when the requested device cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// CUDA was asked for but libtorch sees no usable GPU.
    #[error(
        "CUDA was requested but is not available (no GPU, no CUDA build of libtorch, or libtorch_cuda \
         not linked); use --device cpu or auto"
    )]
    CudaUnavailable,
}

impl DeviceChoice {
    /// Resolves the choice to a `tch::Device`.
    pub fn resolve(self) -> Result<tch::Device, DeviceError> {
        match self {
            DeviceChoice::Cpu => Ok(tch::Device::Cpu),
            DeviceChoice::Auto if tch::Cuda::is_available() => Ok(tch::Device::Cuda(0)),
            DeviceChoice::Auto => Ok(tch::Device::Cpu),
            DeviceChoice::Cuda if tch::Cuda::is_available() => Ok(tch::Device::Cuda(0)),
            DeviceChoice::Cuda => Err(DeviceError::CudaUnavailable),
        }
    }
}

/// The name written into reports: `"cpu"` or `"cuda"`.
pub fn device_name(device: tch::Device) -> &'static str {
    match device {
        tch::Device::Cpu => "cpu",
        tch::Device::Cuda(_) => "cuda",
        tch::Device::Mps => "mps",
        tch::Device::Vulkan => "vulkan",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_always_resolves_and_cuda_errors_without_a_gpu() {
        assert_eq!(DeviceChoice::Cpu.resolve(), Ok(tch::Device::Cpu));
        if tch::Cuda::is_available() {
            assert_eq!(DeviceChoice::Auto.resolve(), Ok(tch::Device::Cuda(0)));
            assert_eq!(DeviceChoice::Cuda.resolve(), Ok(tch::Device::Cuda(0)));
        } else {
            assert_eq!(DeviceChoice::Auto.resolve(), Ok(tch::Device::Cpu));
            assert_eq!(DeviceChoice::Cuda.resolve(), Err(DeviceError::CudaUnavailable));
        }
    }

    #[test]
    fn serde_names_are_lowercase() {
        let c: DeviceChoice = serde_json::from_str("\"cuda\"").unwrap();
        assert_eq!(c, DeviceChoice::Cuda);
        assert_eq!(serde_json::to_string(&DeviceChoice::Auto).unwrap(), "\"auto\"");
    }
}
