//! Conversion between the pipeline's `ndarray` images (`[row, col]`, f32) and tch tensors at the
//! boundary of the model code: the rest of the pipeline never sees a `Tensor`.

use ndarray::{Array2, ArrayView2};
use tch::{Device, Kind, Tensor};

/// Error when a tensor cannot be turned back into an image.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The tensor does not hold exactly one 2-D image.
    #[error("expected a tensor with {expected} elements shaped as one image, got shape {got:?}")]
    Shape {
        /// Elements expected (rows × cols).
        expected: usize,
        /// The tensor's shape.
        got: Vec<i64>,
    },
    /// libtorch refused the conversion.
    #[error("tensor conversion failed: {0}")]
    Torch(#[from] tch::TchError),
}

/// An image as a float tensor of shape `[1, 1, rows, cols]` on `device`.
pub fn array_to_tensor(image: ArrayView2<f32>, device: Device) -> Tensor {
    let (rows, cols) = image.dim();
    let data: Vec<f32> = image.iter().copied().collect(); // row-major whatever the layout
    Tensor::from_slice(&data).reshape([1, 1, rows as i64, cols as i64]).to_device(device)
}

/// A tensor holding one image (any shape with `rows·cols` elements, e.g. `[1, 1, rows, cols]`) as an
/// array of `rows × cols`.
pub fn tensor_to_array(tensor: &Tensor, rows: usize, cols: usize) -> Result<Array2<f32>, ConvertError> {
    if tensor.numel() != rows * cols {
        return Err(ConvertError::Shape { expected: rows * cols, got: tensor.size() });
    }
    let flat = tensor.to_device(Device::Cpu).to_kind(Kind::Float).contiguous().view([-1]);
    let data = Vec::<f32>::try_from(&flat)?;
    Array2::from_shape_vec((rows, cols), data).map_err(|_| ConvertError::Shape { expected: rows * cols, got: tensor.size() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_row_major_order() {
        let a = Array2::from_shape_fn((3, 5), |(r, c)| (10 * r + c) as f32);
        let t = array_to_tensor(a.view(), Device::Cpu);
        assert_eq!(t.size(), vec![1, 1, 3, 5]);
        assert_eq!(t.double_value(&[0, 0, 2, 1]), 21.0);
        let back = tensor_to_array(&t, 3, 5).unwrap();
        assert_eq!(back, a);
        // a transposed (non-standard layout) view converts by logical index
        let tt = array_to_tensor(a.t(), Device::Cpu);
        assert_eq!(tt.double_value(&[0, 0, 1, 2]), 21.0);
        assert!(tensor_to_array(&t, 4, 4).is_err());
    }
}
