// The libFuzzer entry points of every fuzz target (Tests/Fuzz/README.md): `BYOC_FUZZ_TARGET`
// names the target, every argument goes to libFuzzer. Built with -parse-as-library (no
// top-level code); SwiftPM links `main` to `byoc_fuzz_main`, which hands over to libFuzzer's
// driver, as libFuzzer's own `main` would.
#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's entry when the program owns `main` (compiler-rt FuzzerInterface.h).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// The target this process runs, chosen in `LLVMFuzzerInitialize` before the first input.
nonisolated(unsafe) private var selected: FuzzTarget?

/// Picks the target named by `BYOC_FUZZ_TARGET`; exits 2 naming the targets when it is unknown.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>?,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    let name = getenv("BYOC_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = FuzzTarget.all.first(where: { $0.name == name }) else {
        let names = FuzzTarget.all.map(\.name).joined(separator: ", ")
        fputs("byoc-fuzz: set BYOC_FUZZ_TARGET to one of: \(names)\n", stderr)
        exit(2)
    }
    selected = target
    return 0
}

/// Runs one input through the selected target.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected?.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@_cdecl("byoc_fuzz_main")
public func byocFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { fuzzerTestOneInput($0, $1) }
}
