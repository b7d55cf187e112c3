fn main() -> std::process::ExitCode {
    whoot_mgmt::cli::main()
}
