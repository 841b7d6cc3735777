import ArgumentParser
import XCTest

@testable import byocctl

/// byocctl's argument handling without sockets: global options before the verb
/// (ArgumentOrder) and one-line errors (CLIMain.Outcome).
final class ArgumentOrderTests: XCTestCase {
    private func moved(_ words: String...) throws -> [String] {
        try ArgumentOrder.movingGlobalOptionsAfterVerb(words)
    }

    private func usageError(_ words: String..., file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            let result = try ArgumentOrder.movingGlobalOptionsAfterVerb(words)
            XCTFail("expected a usage error, got \(result)", file: file, line: line)
            return nil
        } catch let error as CLIError {
            XCTAssertEqual(error.exitCode, CLIError.usage, file: file, line: line)
            return error.message
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
            return nil
        }
    }

    // MARK: ArgumentOrder.movingGlobalOptionsAfterVerb

    func testArgumentsWithoutLeadingGlobalOptionsAreUnchanged() throws {
        for words in [[], ["list"], ["list", "--server", "h:1", "-o", "json"], ["--help"], ["-h"], ["help", "list"],
                      ["bogus"], ["--version"], ["get", "iris", "--token", "t"], ["--", "list"]] {
            XCTAssertEqual(try ArgumentOrder.movingGlobalOptionsAfterVerb(words), words)
        }
    }

    func testGlobalOptionsMoveAfterTheVerb() throws {
        XCTAssertEqual(try moved("--server", "http://h:1", "list"), ["list", "--server", "http://h:1"])
        XCTAssertEqual(try moved("-o", "json", "get", "iris"), ["get", "-o", "json", "iris"])
        XCTAssertEqual(try moved("--token", "t", "--timeout", "5", "--insecure", "--ca-file", "ca.pem", "status"),
                       ["status", "--token", "t", "--timeout", "5", "--insecure", "--ca-file", "ca.pem"])
        XCTAssertEqual(try moved("--output", "json", "scale", "iris", "1", "--min", "2"),
                       ["scale", "--output", "json", "iris", "1", "--min", "2"])
    }

    func testAttachedValuesStayOneWord() throws {
        XCTAssertEqual(try moved("--server=http://h:1", "-o=json", "list"), ["list", "--server=http://h:1", "-o=json"])
        XCTAssertEqual(try moved("--output=table", "--token=a=b", "delete", "iris"),
                       ["delete", "--output=table", "--token=a=b", "iris"])
    }

    func testAValueThatLooksLikeAVerbIsAValue() throws {
        XCTAssertEqual(try moved("--token", "list", "get", "x"), ["get", "--token", "list", "x"])
        XCTAssertEqual(try moved("--server", "-", "list"), ["list", "--server", "-"])
        XCTAssertEqual(try moved("--timeout", "-1", "list"), ["list", "--timeout", "-1"])
    }

    func testMovedOptionsGoBeforeTheOnesAfterTheVerbSoThoseWin() throws {
        XCTAssertEqual(try moved("-o", "json", "list", "-o", "table"), ["list", "-o", "json", "-o", "table"])
    }

    func testBothSidesMix() throws {
        XCTAssertEqual(try moved("--server", "h:1", "predict", "iris", "-o", "json", "--input", "{}"),
                       ["predict", "--server", "h:1", "iris", "-o", "json", "--input", "{}"])
    }

    func testSubVerbs() throws {
        XCTAssertEqual(try moved("--token", "t", "token", "create", "--scope", "admin"),
                       ["token", "create", "--token", "t", "--scope", "admin"])
        XCTAssertEqual(try moved("-o", "json", "token", "list"), ["token", "list", "-o", "json"])
        // A group without its sub-verb: as if typed after `token` (which has no such options).
        XCTAssertEqual(try moved("-o", "json", "token"), ["token", "-o", "json"])
    }

    func testStopsAtDoubleDashAndLeavesTheCommandAlone() throws {
        XCTAssertEqual(try moved("--server", "h:1", "register", "m", "1", "--", "serve", "--server", "x", "-o", "y"),
                       ["register", "--server", "h:1", "m", "1", "--", "serve", "--server", "x", "-o", "y"])
        // `--` before any verb: the global options are dropped and the parser reports the rest.
        XCTAssertEqual(try moved("--server", "h:1", "--", "list"), ["--", "list"])
    }

    func testHelpAndNonVerbsDropTheGlobalOptions() throws {
        XCTAssertEqual(try moved("--server", "h:1", "--help"), ["--help"])
        XCTAssertEqual(try moved("-o", "json", "-h"), ["-h"])
        XCTAssertEqual(try moved("--server", "h:1", "help", "list"), ["help", "list"])
        XCTAssertEqual(try moved("--server", "h:1", "bogus"), ["bogus"])
        XCTAssertEqual(try moved("-o", "json", "--bogus", "list"), ["--bogus", "list"])
        XCTAssertEqual(try moved("--server", "h:1", "list", "--help"), ["list", "--server", "h:1", "--help"])
    }

    func testNoVerbOrNoValueIsAUsageError() {
        XCTAssertEqual(usageError("--server", "h:1"), "no verb after '--server h:1' (see 'byocctl --help')")
        XCTAssertEqual(usageError("-o", "json", "--insecure"), "no verb after '-o json --insecure' (see 'byocctl --help')")
        XCTAssertEqual(usageError("--server"), "missing value for '--server' (see 'byocctl --help')")
        XCTAssertEqual(usageError("-o", "--server", "h:1", "list"), "missing value for '-o' (see 'byocctl --help')")
    }

    /// The option table matches GlobalOptions: every option it declares (and only those) moves.
    func testTheTableMatchesGlobalOptions() {
        var values: Set<String> = []
        var flags: Set<String> = []
        var inOptions = false
        for line in GlobalOptions.helpMessage(columns: 200).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("OPTIONS:") { inOptions = true; continue }
            guard inOptions, line.hasPrefix("  -") else { continue }
            // "  -o, --output <output>   Output format ..." / "  --insecure   Do not verify ..."
            let spec = line.trimmingCharacters(in: .whitespaces).components(separatedBy: "  ")[0]
            let takesValue = spec.contains("<")
            for name in spec.split(whereSeparator: { $0 == "," || $0 == " " }).filter({ $0.hasPrefix("-") }) {
                let name = String(name)
                guard name != "-h", name != "--help" else { continue }
                if takesValue { values.insert(name) } else { flags.insert(name) }
            }
        }
        XCTAssertEqual(values, ArgumentOrder.valueOptions)
        XCTAssertEqual(flags, ArgumentOrder.flagOptions)
    }

    /// Every rewritten command line parses to the same options as the one typed after the verb.
    func testRewrittenArgumentsParse() throws {
        let command = try Byocctl.parseAsRoot(try moved("--server", "h:1", "-o", "json", "--token", "t",
                                                       "--timeout", "5", "get", "iris", "-o", "table"))
        let get = try XCTUnwrap(command as? GetCommand)
        XCTAssertEqual(get.model, "iris")
        XCTAssertEqual(get.global.server, "h:1")
        XCTAssertEqual(get.global.token, "t")
        XCTAssertEqual(get.global.timeout, 5)
        XCTAssertEqual(get.global.output, .table, "the option after the verb wins")

        let create = try XCTUnwrap(try Byocctl.parseAsRoot(try moved("--token=t", "token", "create", "--scope", "admin"))
            as? TokenCreateCommand)
        XCTAssertEqual(create.global.token, "t")
        XCTAssertEqual(create.scope, "admin")

        let register = try XCTUnwrap(try Byocctl.parseAsRoot(
            try moved("-o=json", "register", "m", "1", "--", "serve", "-o", "yaml")) as? RegisterCommand)
        XCTAssertEqual(register.global.output, .json)
        XCTAssertEqual(register.trailing, ["serve", "-o", "yaml"])
    }

    func testCommandPath() {
        XCTAssertEqual(ArgumentOrder.commandPath(["token", "revoke", "abc"]), ["token", "revoke"])
        XCTAssertEqual(ArgumentOrder.commandPath(["list", "list"]), ["list"])
        XCTAssertEqual(ArgumentOrder.commandPath(["set-default", "m", "1"]), ["set-default"])
        XCTAssertEqual(ArgumentOrder.commandPath(["--help"]), [])
        XCTAssertEqual(ArgumentOrder.commandPath(["help", "list"]), [])
        XCTAssertEqual(ArgumentOrder.commandPath([]), [])
    }

    // MARK: CLIMain: one stderr line per failure, help on stdout

    /// What byocctl prints for `words` (every case here fails or asks for help before any call).
    private func outcome(_ words: String...) async -> CLIMain.Outcome {
        await CLIMain.execute(words)
    }

    private func assertUsageLine(_ outcome: CLIMain.Outcome, _ expected: String,
                                 file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(outcome.text, expected, file: file, line: line)
        XCTAssertFalse(outcome.toStdout, file: file, line: line)
        XCTAssertEqual(outcome.exitCode, 2, file: file, line: line)
        XCTAssertFalse(outcome.text.contains("\n"), file: file, line: line)
    }

    func testUsageErrorsAreOneLine() async {
        // yaml is a format since -o yaml; an unknown one is still a usage error naming the choices.
        let xml = "byocctl: the value 'xml' is invalid for '-o <output>'. Please provide one of 'table', 'json' or 'yaml'. "
            + "(see 'byocctl list --help')"
        assertUsageLine(await outcome("list", "-o", "xml"), xml)
        assertUsageLine(await outcome("-o", "xml", "list"), xml)
        assertUsageLine(await outcome("list", "--bogus"), "byocctl: unknown option '--bogus' (see 'byocctl list --help')")
        assertUsageLine(await outcome("get"), "byocctl: missing expected argument '<model>' (see 'byocctl get --help')")
        assertUsageLine(await outcome("scale", "m", "v"),
                        "byocctl: missing expected argument '--min <min>' (see 'byocctl scale --help')")
        assertUsageLine(await outcome("frobnicate"), "byocctl: unexpected argument 'frobnicate' (see 'byocctl --help')")
        assertUsageLine(await outcome("token", "bogus"),
                        "byocctl: unexpected argument 'bogus' (see 'byocctl token --help')")
        assertUsageLine(await outcome("list", "--timeout", "0"),
                        "byocctl: --timeout must be a positive number of seconds (see 'byocctl list --help')")
        assertUsageLine(await outcome("--timeout", "0", "list"),
                        "byocctl: --timeout must be a positive number of seconds (see 'byocctl list --help')")
        assertUsageLine(await outcome("--server", "h:1"), "byocctl: no verb after '--server h:1' (see 'byocctl --help')")
        assertUsageLine(await outcome("--server", "h:1", "--bogus", "list"),
                        "byocctl: unknown option '--bogus' (see 'byocctl --help')")
        assertUsageLine(await outcome("list", "-ojson"),
                        "byocctl: unknown option '-ojson' or: Missing value for '-o <output>' in '-ojson' "
                            + "(see 'byocctl list --help')")
        // A usage error found while running (not by the parser) keeps its own text.
        assertUsageLine(await outcome("list", "--server", "ftp://h"),
                        "byocctl: unsupported scheme \"ftp\" in --server ftp://h (use http://HOST:PORT or https://HOST:PORT)")
    }

    func testHelpGoesToStdoutWithStatus0() async {
        for words in [["--help"], ["-h"], ["help"], ["help", "list"], ["list", "--help"], ["--server", "h:1", "--help"],
                      ["--server", "h:1", "help", "list"], ["-o", "json", "token", "create", "--help"], ["token"], []] {
            let outcome = await CLIMain.execute(words)
            XCTAssertTrue(outcome.toStdout, "\(words)")
            XCTAssertEqual(outcome.exitCode, 0, "\(words)")
            XCTAssertTrue(outcome.text.contains("USAGE: byocctl"), "\(words): \(outcome.text)")
        }
        let text = await outcome("--server", "h:1", "help", "list").text
        XCTAssertTrue(text.contains("USAGE: byocctl list"), text)
        let create = await outcome("-o", "json", "token", "create", "--help").text
        XCTAssertTrue(create.contains("USAGE: byocctl token create"), create)
    }

    func testFailedCallsKeepStatus1AndOneLine() {
        let failed = CLIMain.Outcome(error: CLIError("NOT_FOUND: model \"x\"\nnot found"), arguments: ["get", "x"])
        XCTAssertEqual(failed, CLIMain.Outcome(text: "byocctl: NOT_FOUND: model \"x\" not found", toStdout: false,
                                               exitCode: 1))
        struct Odd: Error, CustomStringConvertible { var description: String { "two\nlines" } }
        XCTAssertEqual(CLIMain.Outcome(error: Odd(), arguments: ["list"]),
                       CLIMain.Outcome(text: "byocctl: two lines", toStdout: false, exitCode: 1))
        XCTAssertEqual(CLIMain.Outcome(error: CLIError.usage("cannot read --input file f"), arguments: ["predict"]),
                       CLIMain.Outcome(text: "byocctl: cannot read --input file f", toStdout: false, exitCode: 2))
    }

    func testOneLineHelpers() {
        XCTAssertEqual(CLIMain.Outcome.oneLine("a\n  b  \n\nc"), "a b c")
        XCTAssertEqual(CLIMain.Outcome.lowercasingFirstWord("Unknown option"), "unknown option")
        XCTAssertEqual(CLIMain.Outcome.lowercasingFirstWord("NOT_FOUND: x"), "NOT_FOUND: x")
        XCTAssertEqual(CLIMain.Outcome.lowercasingFirstWord("--timeout"), "--timeout")
    }
}
