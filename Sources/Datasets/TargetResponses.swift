import Foundation
import Tensor
import Tokenizers
import Transformer

/// Sequence-level distillation data: the target's own responses to a prompt file, greedy or
/// sampled (DistillSpec's "teacher-generated" fixed data; Kim & Rush's sequence-level KD). Trained on
/// them, a draft learns the text the target writes at decoding time — its wording, its
/// numbering, its length — rather than the style of human references, which is what acceptance
/// is measured on. The teacher cache and every fixed-data objective then run on the file.
/// Greedy responses are the text greedy speculative decoding verifies; for sampling at
/// temperature T the draft meets contexts the target *samples*, so responses sampled at T are
/// the matching data (DistillSpec samples its teacher data at the decoding temperature).
///
/// Output lines are `{"prompt": p, "response": text, "source_index": i, "finished": b}` (and
/// `"sample": j` when several responses are sampled per prompt) with the
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
        /// Which of the prompt's sampled responses (absent with one response per prompt).
        public var sample: Int?
    }

    /// Generates the responses for `prompts[i]` (rendered by `template`) in order, appending to `output`.
    ///
    /// `parallel` sequences decode together (``InferenceSession/append(_:)`` over a batch: each
    /// step reads the weights once for all of them), a finished one making room for the next
    /// prompt. Greedy tokens are chosen per row with the lowest index winning ties, and lines are
    /// written in prompt order, so the file is the same for every `parallel` when the model's rows
    /// are batch-invariant (native GGUF weights; float32 up to ``InferenceSession/batchInvariantRows``
    /// sequences).
    ///
    /// With a non-greedy `sampling`, each token is drawn from ``Sampler/distribution(_:into:)``
    /// of its row with a generator of its own prompt, `RandomGenerator(seed: seed).fork(i)` for
    /// prompt `i`: a response depends only on the seed and its prompt, not on `parallel`, the
    /// other prompts or where an interrupted run resumed. With `samples` = N > 1 each prompt gets N
    /// responses, response j of prompt i drawn with `fork(i·N + j)` and written as line i·N + j
    /// with `"sample": j` (N = 1 writes the lines above, byte for byte).
    /// - Parameter progress: called as responses finish with (responses done, total, tokens generated).
    public static func generate(model: TransformerModel, tokenizer: Tokenizer, prompts: [String],
                                template: PromptTemplate, maxTokens: Int, stopTokens: Set<Int>,
                                output: URL, keepUnfinished: Bool = false, parallel: Int = 1,
                                sampling: SamplingSettings = .greedy, seed: UInt64 = 1, samples: Int = 1,
                                progress: (Int, Int, Int) -> Void = { _, _, _ in }) throws -> Summary {
        guard maxTokens > 0 else { throw DatasetError.data("--max-tokens must be positive") }
        guard parallel >= 1 else { throw DatasetError.data("--parallel must be at least 1, got \(parallel)") }
        guard samples >= 1 else { throw DatasetError.data("--samples must be at least 1, got \(samples)") }
        guard samples == 1 || !sampling.isGreedy else {
            throw DatasetError.data("--samples \(samples) needs sampling: greedy responses to one prompt are all the same; add --temperature (e.g. 1)")
        }
        var summary = Summary()
        let jobs = prompts.count * samples   // job f: response f % samples of prompt f / samples
        let start = try resumePoint(output, samples: samples)
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
        let V = model.config.vocabSize
        let sampler = Sampler(settings: sampling, vocabularySize: V)
        var probs = [Float](repeating: 0, count: sampling.isGreedy ? 0 : V)
        var slots: [Slot] = []
        var finished: [Int: (tokens: [Int], endOfSequence: Bool)?] = [:]   // nil: the prompt did not fit
        var next = start, written = start, done = start
        while true {
            while slots.count < parallel && next < jobs {
                let ids = tokenizer.encode(template.render(prompts[next / samples]), addSpecialTokens: true)
                let maxT = min(model.config.maxPositions, ids.count + maxTokens + 1)
                if ids.count >= maxT {
                    finished[next] = .some(nil)
                    done += 1
                } else {
                    let session = InferenceSession(model: model, maxT: maxT)
                    try DecodingLoop.prefillAllButLast(session, ids)
                    var root = RandomGenerator(seed: seed)
                    slots.append(Slot(index: next, session: session, last: ids[ids.count - 1], rng: root.fork(next)))
                }
                next += 1
            }
            // Lines in prompt order: a resumed run starts after the highest index written.
            while let result = finished.removeValue(forKey: written) {
                if let (tokens, endOfSequence) = result {
                    if endOfSequence || keepUnfinished {
                        let line = Line(prompt: prompts[written / samples], response: tokenizer.decode(endOfSequence ? tokens.dropLast() : tokens),
                                        source_index: written / samples, finished: endOfSequence,
                                        sample: samples > 1 ? written % samples : nil)
                        var data = try encoder.encode(line)
                        data.append(0x0A)
                        try handle.write(contentsOf: data)
                        summary.written += 1
                    } else {
                        summary.droppedUnfinished += 1
                    }
                }
                written += 1
            }
            if slots.isEmpty { break }
            let logits = try InferenceSession.append(slots.map { ($0.session, [$0.last]) })
            for b in slots.indices {
                let row = logits.pointer + b * V
                let token = sampling.isGreedy
                    ? Sampler.argmax(row, count: V)
                    : try probs.withUnsafeMutableBufferPointer { pb in
                        try sampler.checkedSample(row, scratch: pb.baseAddress!, rng: &slots[b].rng)
                    }
                slots[b].tokens.append(token); slots[b].last = token
                summary.generatedTokens += 1
            }
            slots.removeAll { slot in
                let eos = stopTokens.contains(slot.last)
                guard eos || slot.tokens.count == maxTokens || slot.session.length + 1 > slot.session.maxT else { return false }
                finished[slot.index] = .some((slot.tokens, eos))
                done += 1
                progress(done, jobs, summary.generatedTokens)
                return true
            }
        }
        summary.seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        return summary
    }

    /// One sequence being generated.
    private struct Slot {
        var index: Int
        var session: InferenceSession
        var last: Int
        var rng: RandomGenerator
        var tokens: [Int] = []
    }

    /// The first job still to generate (prompt i's response j is job i·samples + j): one past the
    /// highest job of the complete lines of `url` (0 when absent); a torn last line is cut off the
    /// file. A file written with another number of samples per prompt is refused.
    static func resumePoint(_ url: URL, samples: Int = 1) throws -> Int {
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
            let j = l.sample ?? 0
            guard (l.sample == nil) == (samples == 1) && j >= 0 && j < samples else {
                throw DatasetError.data("\(url.path):\(n + 1): written with \(l.sample == nil ? "one response" : "several sampled responses") per prompt, not --samples \(samples); resume with the same --samples or choose another --out")
            }
            next = max(next, l.source_index * samples + j + 1)
        }
        return next
    }
}
