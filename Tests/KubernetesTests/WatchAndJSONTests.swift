import Foundation
import XCTest
@testable import Kubernetes

final class WatchAndJSONTests: XCTestCase {
    func testLinesSplitAcrossFrames() throws {
        var buffer = WatchLineBuffer(maxLineBytes: 1024)
        XCTAssertEqual(try buffer.append(Array("{\"type\":\"ADDED\",".utf8)), [])
        XCTAssertEqual(buffer.bufferedBytes, 16)
        let lines = try buffer.append(Array("\"object\":{}}\n{\"a\":1}\n\n{\"b\"".utf8))
        XCTAssertEqual(lines.map { String(decoding: $0, as: UTF8.self) }, ["{\"type\":\"ADDED\",\"object\":{}}", "{\"a\":1}"])
        XCTAssertEqual(try buffer.append(Array(":2}\r\n".utf8)).map { String(decoding: $0, as: UTF8.self) }, ["{\"b\":2}\r"])
        XCTAssertNil(buffer.finish())
    }

    func testTheBufferIsBounded() {
        var buffer = WatchLineBuffer(maxLineBytes: 8)
        XCTAssertThrowsError(try buffer.append(Array("0123456789".utf8)))
        XCTAssertEqual(buffer.bufferedBytes, 0)
        XCTAssertEqual(try buffer.append(Array("ok\n".utf8)).count, 1)
    }

    func testLastLineWithoutNewline() throws {
        var buffer = WatchLineBuffer()
        _ = try buffer.append(Array("{\"x\":1}".utf8))
        XCTAssertEqual(buffer.finish().map { String(decoding: $0, as: UTF8.self) }, "{\"x\":1}")
    }

    func testWatchEvents() throws {
        let added = try WatchEvent.parse(Data(#"{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"7"}}}"#.utf8))
        XCTAssertEqual(added.kind, .added)
        XCTAssertEqual(added.object.name, "a")
        XCTAssertEqual(added.object.resourceVersion, "7")
        XCTAssertNil(added.errorCode)
        let bookmark = try WatchEvent.parse(Data(#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}"#.utf8))
        XCTAssertEqual(bookmark.kind, .bookmark)
        let gone = try WatchEvent.parse(Data(#"{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}}"#.utf8))
        XCTAssertEqual(gone.errorCode, 410)
        XCTAssertThrowsError(try WatchEvent.parse(Data(#"{"type":"NOPE","object":{}}"#.utf8)))
        XCTAssertThrowsError(try WatchEvent.parse(Data("not json".utf8)))
    }

    func testJSONValues() throws {
        let json = try JSON.parse(#"{"i":3,"d":1.5,"b":true,"n":null,"s":"x","a":[1,"2"],"o":{"k":"v"}}"#)
        XCTAssertEqual(json["i"], .int(3))
        XCTAssertEqual(json["d"], .double(1.5))
        XCTAssertEqual(json["b"], .bool(true))
        XCTAssertEqual(json["n"], .null)
        XCTAssertEqual(json[path: "o", "k"]?.string, "v")
        XCTAssertEqual(json["a"], [1, "2"])
        XCTAssertEqual(json.text, #"{"a":[1,"2"],"b":true,"d":1.5,"i":3,"n":null,"o":{"k":"v"},"s":"x"}"#)
        var object: JSON = ["spec": ["replicas": 1]]
        object["spec"]?["replicas"] = 2
        XCTAssertEqual(object[path: "spec", "replicas"], 2)
    }

    func testQueryStringsAreEscaped() {
        XCTAssertEqual(KubeClient.queryString([("labelSelector", "app.kubernetes.io/managed-by=byoc,a=b"), ("watch", "1")]),
                       "?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dbyoc%2Ca%3Db&watch=1")
        XCTAssertEqual(KubeClient.queryString([]), "")
    }
}
