//! Keeps libtorch (and its CUDA part) linked: without `--no-as-needed` the linker drops
//! `libtorch_cuda`, so `tch::Cuda::is_available()` is false even on a GPU machine; the rpath lets the
//! binary start without `LD_LIBRARY_PATH` on the machine it was built on.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath={lib}");
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
    }
}
