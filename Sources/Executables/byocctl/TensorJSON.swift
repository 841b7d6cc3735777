import Foundation
import Messages

/// byocctl's side of the shared `Messages.TensorJSON`: parsing --input text and mapping the
/// converter's errors to usage errors (exit 2). Outputs print with `TensorJSON.outputObject`.
extension TensorJSON {
    /// Parses the --input JSON text `{"name": VALUES, ...}`; see `TensorJSON.inputs(_:dtypes:)`.
    static func inputs(fromJSON text: String, dtypes: [String: DataType]) throws -> [String: Tensor] {
        let parsed: [String: JSONValue]
        do {
            parsed = try JSONValue.parseObject(Array(text.utf8))
        } catch {
            throw CLIError.usage("--input must be a JSON object of NAME: VALUES, e.g. '{\"x\": [[5.1, 3.5, 1.4, 0.2]]}' (\(error))")
        }
        do {
            return try inputs(parsed, dtypes: dtypes)
        } catch let error as TensorJSONError {
            throw CLIError.usage(error.message)
        }
    }
}
