fn main() {
    match gsttrtpose::engine::cuda::compile_preprocess() {
        Ok(p) => println!("ok: {} bytes of PTX", p.to_src().len()),
        Err(e) => println!("error: {e}"),
    }
}
