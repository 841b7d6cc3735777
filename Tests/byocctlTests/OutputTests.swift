import Foundation
import XCTest

@testable import byocctl

/// -o yaml, "did you mean", and --since.
final class OutputTests: XCTestCase {
    func testYAMLBlocks() {
        let value: [String: Any] = [
            "name": "iris", "defaultVersion": "1", "port": 0, "ok": true, "command": ["python3", "serve.py"],
            "env": [String: String](), "versions": [["version": "1", "message": "a: b"], ["version": "2.0", "message": ""]],
            "empty": [Any](),
        ]
        XCTAssertEqual(YAMLText.render(value), """
            command:
              - python3
              - serve.py
            defaultVersion: "1"
            empty: []
            env: {}
            name: iris
            ok: true
            port: 0
            versions:
              - message: "a: b"
                version: "1"
              - message: ""
                version: "2.0"
            """)
        XCTAssertEqual(YAMLText.render([Any]()), "[]")
    }

    /// Numbers and booleans print alike in JSON and YAML (a Float in its shortest form); NaN and
    /// the infinities as each format names them; null and strings as each writes them.
    func testScalarsInJSONAndYAML() {
        let values: [Any] = [Float(5.1), 0.25, Int32(-3), Int64(1) << 40, UInt8(7), true, Float.nan, -Double.infinity,
                             Float.infinity, NSNull(), "a\"b"]
        XCTAssertEqual(JSONText.render(values), #"[5.1, 0.25, -3, 1099511627776, 7, true, "NaN", "-Infinity", "Infinity", null, "a\"b"]"#)
        XCTAssertEqual(YAMLText.render(values), """
            - 5.1
            - 0.25
            - -3
            - 1099511627776
            - 7
            - true
            - .nan
            - -.inf
            - .inf
            - null
            - a"b
            """)
    }

    func testYAMLQuotesWhatWouldReadBackAsSomethingElse() {
        for text in ["yes", "No", "null", "~", "1", "1.5", "1e3", "-x", " lead", "trail ", "a #b", "line\nbreak", "*", "", "0x1F", "1:30", "2030-01-01T00:00:00Z", "1.0-rc.1", "+1", "<<"] {
            XCTAssertTrue(YAMLText.scalarText(text).hasPrefix("\""), text)
        }
        for text in ["iris", "READY", "python3", "/usr/bin/x", "registry.example.com/iris:1", "a-b"] {
            XCTAssertEqual(YAMLText.scalarText(text), text)
        }
    }

    func testDidYouMean() {
        XCTAssertEqual(VerbSuggestion.suggestion(for: ["lsit"]), VerbSuggestion.Suggestion(typed: "lsit", verb: "list"))
        XCTAssertEqual(VerbSuggestion.suggestion(for: ["regster", "iris"])?.verb, "register")
        XCTAssertEqual(VerbSuggestion.suggestion(for: ["evnets"])?.verb, "events")
        XCTAssertEqual(VerbSuggestion.suggestion(for: ["token", "revok", "x"])?.verb, "revoke")
        XCTAssertNil(VerbSuggestion.suggestion(for: ["frobnicate"]))
        XCTAssertNil(VerbSuggestion.suggestion(for: ["list", "extra"]), "list has no sub-verbs")
        XCTAssertNil(VerbSuggestion.suggestion(for: ["--bogus"]))
        XCTAssertEqual(VerbSuggestion.distance("ab", "ba"), 1)
        XCTAssertEqual(VerbSuggestion.distance("", "abc"), 3)
    }

    func testDidYouMeanIsTheUsageLine() async {
        let outcome = await CLIMain.execute(["lsit"])
        XCTAssertEqual(outcome, CLIMain.Outcome(text: "byocctl: unknown verb 'lsit': did you mean 'list'? (see 'byocctl --help')",
                                                toStdout: false, exitCode: 2))
    }

    func testSince() throws {
        let now = Date(timeIntervalSince1970: 1_000_000)
        XCTAssertEqual(try EventsCommand.sinceUnixMs("1h", now: now), (1_000_000 - 3600) * 1000)
        XCTAssertEqual(try EventsCommand.sinceUnixMs("2030-01-01T00:00:00Z", now: now), 1_893_456_000_000)
        XCTAssertThrowsError(try EventsCommand.sinceUnixMs("soon", now: now))
    }
}
