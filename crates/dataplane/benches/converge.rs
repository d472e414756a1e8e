fn main() {
    eprintln!("converge bench: not written yet");
}
