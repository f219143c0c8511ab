fn main() {
    std::process::exit(midge::cli::main());
}
