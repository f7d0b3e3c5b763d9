import Foundation

/// Plain-text training data: a `.txt` file (one document) or a `.jsonl` file whose lines are
/// `{"text": ...}` or `{"prompt": ..., "response": ...}` (joined). Errors name the file, the line
/// and the fix.
public enum TextCorpus {
    /// The documents of `url`.
    public static func documents(_ url: URL) throws -> [String] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DatasetError.data("\(url.path): cannot read (\(error.localizedDescription))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DatasetError.data("\(url.path): not valid UTF-8 text; convert it with iconv")
        }
        if url.pathExtension.lowercased() != "jsonl" { return [text] }
        var docs: [String] = []
        for (n, line) in JSONLines.lines(text) {
            guard let obj = JSONLines.object(line) else {
                throw DatasetError.data("\(url.path):\(n): not a JSON object; each line must be {\"text\": ...} or {\"prompt\": ..., \"response\": ...}")
            }
            if let t = obj["text"] as? String { docs.append(t) }
            else if let p = obj["prompt"] as? String, let r = obj["response"] as? String { docs.append(p + r) }
            else {
                throw DatasetError.data("\(url.path):\(n): no \"text\" (or \"prompt\" + \"response\") string field; found keys \(obj.keys.sorted().prefix(8))")
            }
        }
        guard !docs.isEmpty else { throw DatasetError.data("\(url.path): no documents") }
        return docs
    }
}
