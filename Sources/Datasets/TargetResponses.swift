import Foundation
import Tensor
import Tokenizers
import Transformer

/// Sequence-level distillation data: the target's own greedy responses to a prompt file
/// (DistillSpec's "teacher-generated" fixed data; Kim & Rush's sequence-level KD). Trained on
/// them, a draft learns the text the target writes at decoding time — its wording, its
/// numbering, its length — rather than the style of human references, which is what acceptance
/// is measured on. The teacher cache and every fixed-data objective then run on the file.
///
/// Output lines are `{"prompt": p, "response": text, "source_index": i, "finished": b}` with the
/// prompt as given: train with the same ``PromptTemplate`` the responses were generated with
/// (`eval --chat` renders `chatml` too). Responses that hit
/// `maxTokens` before a stop token are dropped unless `keepUnfinished` (the loader appends EOS
/// to every response, which would teach the draft to stop where the target did not).
///
/// **Resumable**: lines are appended and flushed one by one; on restart a torn last line is cut
/// and generation continues after the highest `source_index` written.
public enum TargetResponses {
    public struct Summary: Sendable {
        public var written = 0
        public var droppedUnfinished = 0
        public var resumedAfter = 0
        public var generatedTokens = 0
        public var seconds = 0.0
    }

    public struct Line: Codable, Sendable {
        public var prompt: String
        public var response: String
        public var source_index: Int
        public var finished: Bool
    }

    /// Generates the responses for `prompts[i]` (rendered by `template`) in order, appending to `output`.
    /// - Parameter progress: called after each prompt with (prompts done, total, tokens generated).
    public static func generate(model: TransformerModel, tokenizer: Tokenizer, prompts: [String],
                                template: PromptTemplate, maxTokens: Int, stopTokens: Set<Int>,
                                output: URL, keepUnfinished: Bool = false,
                                progress: (Int, Int, Int) -> Void = { _, _, _ in }) throws -> Summary {
        guard maxTokens > 0 else { throw DatasetError.data("--max-tokens must be positive") }
        var summary = Summary()
        let start = try resumePoint(output)
        summary.resumedAfter = start
        if !FileManager.default.fileExists(atPath: output.path) {
            guard FileManager.default.createFile(atPath: output.path, contents: nil) else {
                throw DatasetError.data("\(output.path): cannot create the output file")
            }
        }
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        try handle.seekToEnd()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let t0 = DispatchTime.now().uptimeNanoseconds
        for i in start..<prompts.count {
            let ids = tokenizer.encode(template.render(prompts[i]), addSpecialTokens: true)
            let maxT = min(model.config.maxPositions, ids.count + maxTokens + 1)
            guard ids.count < maxT else { progress(i + 1, prompts.count, summary.generatedTokens); continue }
            let generator = Generator(model: model, settings: .greedy, seed: 1, maxT: maxT)
            let result = try generator.generate(prompt: ids, maxTokens: maxTokens, stopTokens: stopTokens)
            var out = result.tokens
            let finished = result.stopReason == .endOfSequence
            summary.generatedTokens += out.count
            if finished { out.removeLast() }
            if finished || keepUnfinished {
                let line = Line(prompt: prompts[i], response: tokenizer.decode(out), source_index: i, finished: finished)
                var data = try encoder.encode(line)
                data.append(0x0A)
                try handle.write(contentsOf: data)
                summary.written += 1
            } else {
                summary.droppedUnfinished += 1
            }
            progress(i + 1, prompts.count, summary.generatedTokens)
        }
        summary.seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        return summary
    }

    /// The first prompt index still to generate: one past the highest `source_index` of the
    /// complete lines of `url` (0 when absent); a torn last line is cut off the file.
    static func resumePoint(_ url: URL) throws -> Int {
        guard let data = FileManager.default.contents(atPath: url.path), !data.isEmpty else { return 0 }
        var complete = data
        if data.last != 0x0A {
            let cut = (data.lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
            complete = data.prefix(cut)
            let h = try FileHandle(forWritingTo: url)
            try h.truncate(atOffset: UInt64(cut))
            try h.close()
        }
        var next = 0
        let decoder = JSONDecoder()
        for (n, line) in complete.split(separator: 0x0A).enumerated() {
            guard let l = try? decoder.decode(Line.self, from: Data(line)) else {
                throw DatasetError.data("\(url.path):\(n + 1): not a line of target responses; remove the file or choose another --out")
            }
            next = max(next, l.source_index + 1)
        }
        return next
    }
}
