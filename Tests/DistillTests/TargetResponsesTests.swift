import Distill
import Foundation
import Tensor
import Tokenizers
import Transformer
import XCTest

/// `data generate` (``TargetResponses``): the file holds the target's greedy continuations
/// (oracle: ``Generator``, itself tested against the full forward), unfinished responses are
/// dropped or marked, and an interrupted run — even one torn mid-line — resumes to the same file.
final class TargetResponsesTests: XCTestCase {
    func tempFile(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("target-responses-\(getpid())-\(name).jsonl")
    }

    func testResponsesAreTheGreedyContinuationsAndResumeAfterATornLine() throws {
        let (tok, teacher, _, data) = try TinyPair.make(peakedTeacher: true)
        let prompts = data.examples.map(\.prompt)
        // Stop at the token the teacher emits first after prompt 0, so some responses finish.
        let g0 = Generator(model: teacher, settings: .greedy, seed: 1)
        var first: [Int] = []
        try g0.generate(prompt: tok.encode(prompts[0], addSpecialTokens: true), maxTokens: 1) { first.append($0) }
        let stops: Set<Int> = [first[0]]
        let full = tempFile("full"), torn = tempFile("torn")
        defer { try? FileManager.default.removeItem(at: full); try? FileManager.default.removeItem(at: torn) }
        try? FileManager.default.removeItem(at: full); try? FileManager.default.removeItem(at: torn)
        let s = try TargetResponses.generate(model: teacher, tokenizer: tok, prompts: prompts, template: .plain, maxTokens: 5,
                                             stopTokens: stops, output: full, keepUnfinished: true)
        XCTAssertEqual(s.written, prompts.count)
        let lines = try String(contentsOf: full, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, prompts.count)
        for (i, line) in lines.enumerated() {
            let l = try JSONDecoder().decode(TargetResponses.Line.self, from: Data(line.utf8))
            let g = Generator(model: teacher, settings: .greedy, seed: 1)
            var ids: [Int] = []
            let st = try g.generate(prompt: tok.encode(prompts[i], addSpecialTokens: true), maxTokens: 5, stopTokens: stops) { ids.append($0) }
            let finished = st.stopReason == .endOfSequence
            if finished { ids.removeLast() }
            XCTAssertEqual(l.prompt, prompts[i]); XCTAssertEqual(l.source_index, i)
            XCTAssertEqual(l.response, tok.decode(ids)); XCTAssertEqual(l.finished, finished)
        }
        XCTAssertTrue(lines.first.map { $0.contains("\"finished\":true") } ?? false, "prompt 0 stops at its first token")
        // Two whole lines and half of the third, as a kill would leave it; the rerun completes the file.
        let bytes = try Data(contentsOf: full)
        let cut = bytes.indices.filter { bytes[$0] == 0x0A }[1] + 1 + 7
        try bytes.prefix(cut).write(to: torn)
        let r = try TargetResponses.generate(model: teacher, tokenizer: tok, prompts: prompts, template: .plain, maxTokens: 5,
                                             stopTokens: stops, output: torn, keepUnfinished: true)
        XCTAssertEqual(r.resumedAfter, 2)
        XCTAssertEqual(r.written, prompts.count - 2)
        XCTAssertEqual(try Data(contentsOf: torn), bytes)
        // The loader keeps the marks: unfinished responses get no EOS.
        let loaded = try PromptDataset.load(full, template: .plain, requireResponses: true)
        XCTAssertEqual(loaded.examples.map(\.finished), lines.map { $0.contains("\"finished\":true") })
    }

    func testUnfinishedResponsesAreDroppedByDefaultAndAForeignFileIsRefused() throws {
        let (tok, teacher, _, data) = try TinyPair.make(peakedTeacher: true)
        let out = tempFile("dropped")
        defer { try? FileManager.default.removeItem(at: out) }
        try? FileManager.default.removeItem(at: out)
        let s = try TargetResponses.generate(model: teacher, tokenizer: tok, prompts: data.examples.map(\.prompt), template: .plain,
                                             maxTokens: 3, stopTokens: [], output: out)
        XCTAssertEqual(s.written, 0)
        XCTAssertEqual(s.droppedUnfinished, data.examples.count)
        try Data("{\"prompt\": \"x\", \"response\": \"y\"}\n".utf8).write(to: out)
        XCTAssertThrowsError(try TargetResponses.generate(model: teacher, tokenizer: tok, prompts: ["a"], template: .plain, maxTokens: 3,
                                                          stopTokens: [], output: out)) { e in
            XCTAssertTrue("\(e)".contains("not a line of target responses"), "\(e)")
        }
    }

    /// `--parallel`: sequences decoded together finish at different steps, yet the file is
    /// byte-identical to one decoded a prompt at a time (lines in prompt order, greedy ties the
    /// same), and a parallel run resumes a torn file to the same bytes.
    func testParallelSequencesWriteTheSameFileAndResume() throws {
        let (tok, teacher, _, data) = try TinyPair.make(peakedTeacher: true)
        let prompts = (data.examples + data.examples).map(\.prompt)
        let g0 = Generator(model: teacher, settings: .greedy, seed: 1)
        var first: [Int] = []
        try g0.generate(prompt: tok.encode(prompts[1], addSpecialTokens: true), maxTokens: 2) { first.append($0) }
        let stops: Set<Int> = [first[1]]
        let one = tempFile("np1"), many = tempFile("np3")
        defer { try? FileManager.default.removeItem(at: one); try? FileManager.default.removeItem(at: many) }
        try? FileManager.default.removeItem(at: one); try? FileManager.default.removeItem(at: many)
        _ = try TargetResponses.generate(model: teacher, tokenizer: tok, prompts: prompts, template: .plain, maxTokens: 6,
                                         stopTokens: stops, output: one, keepUnfinished: true, parallel: 1)
        var done: [Int] = []
        let s = try TargetResponses.generate(model: teacher, tokenizer: tok, prompts: prompts, template: .plain, maxTokens: 6,
                                             stopTokens: stops, output: many, keepUnfinished: true, parallel: 3) { d, _, _ in done.append(d) }
        let bytes = try Data(contentsOf: one)
        XCTAssertEqual(try Data(contentsOf: many), bytes)
        XCTAssertEqual(s.written, prompts.count)
        XCTAssertEqual(done, Array(1...prompts.count), "progress counts every finished prompt once")
        let finishedFlags = try String(contentsOf: one, encoding: .utf8).split(separator: "\n").map { $0.contains("\"finished\":true") }
        XCTAssertTrue(finishedFlags.contains(true) && finishedFlags.contains(false), "some sequences stop early, some run to the limit")
        let cut = bytes.indices.filter { bytes[$0] == 0x0A }[2] + 1 + 5
        try bytes.prefix(cut).write(to: many)
        let r = try TargetResponses.generate(model: teacher, tokenizer: tok, prompts: prompts, template: .plain, maxTokens: 6,
                                             stopTokens: stops, output: many, keepUnfinished: true, parallel: 4)
        XCTAssertEqual(r.resumedAfter, 3)
        XCTAssertEqual(try Data(contentsOf: many), bytes)
        XCTAssertThrowsError(try TargetResponses.generate(model: teacher, tokenizer: tok, prompts: prompts, template: .plain, maxTokens: 6,
                                                          stopTokens: stops, output: many, parallel: 0)) { e in
            XCTAssertTrue("\(e)".contains("--parallel must be at least 1"), "\(e)")
        }
    }

    /// `--temperature`: each response is the oracle's sampled continuation — ``Generator`` drawing
    /// from `RandomGenerator(seed: 7).fork(i)` for prompt `i` — so it depends only on the seed and
    /// its prompt: the same bytes with 1 and 3 sequences at a time, other bytes with another seed
    /// or greedily.
    func testSampledResponsesDependOnlyOnTheSeedAndTheirPrompt() throws {
        let (tok, teacher, _, data) = try TinyPair.make(peakedTeacher: false)
        let prompts = data.examples.map(\.prompt)
        let t1 = SamplingSettings(temperature: 1)
        let files = ["s1", "s3", "seed8", "greedy"].map(tempFile)
        defer { for f in files { try? FileManager.default.removeItem(at: f) } }
        for f in files { try? FileManager.default.removeItem(at: f) }
        func run(_ f: URL, parallel: Int, sampling: SamplingSettings, seed: UInt64) throws {
            _ = try TargetResponses.generate(model: teacher, tokenizer: tok, prompts: prompts, template: .plain, maxTokens: 6,
                                             stopTokens: [], output: f, keepUnfinished: true, parallel: parallel,
                                             sampling: sampling, seed: seed)
        }
        try run(files[0], parallel: 1, sampling: t1, seed: 7)
        try run(files[1], parallel: 3, sampling: t1, seed: 7)
        try run(files[2], parallel: 1, sampling: t1, seed: 8)
        try run(files[3], parallel: 1, sampling: .greedy, seed: 7)
        let lines = try String(contentsOf: files[0], encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, prompts.count)
        for (i, line) in lines.enumerated() {
            let l = try JSONDecoder().decode(TargetResponses.Line.self, from: Data(line.utf8))
            var root = RandomGenerator(seed: 7)
            var rng = root.fork(i)
            var ids: [Int] = []
            try Generator(model: teacher, settings: t1, seed: 0)
                .generate(prompt: tok.encode(prompts[i], addSpecialTokens: true), maxTokens: 6, rng: &rng) { ids.append($0) }
            XCTAssertEqual(l.response, tok.decode(ids), "prompt \(i)")
        }
        let bytes = try Data(contentsOf: files[0])
        XCTAssertEqual(try Data(contentsOf: files[1]), bytes, "the file does not depend on --parallel")
        XCTAssertNotEqual(try Data(contentsOf: files[2]), bytes, "another seed draws other tokens")
        XCTAssertNotEqual(try Data(contentsOf: files[3]), bytes, "sampling at T = 1 is not greedy decoding")
    }

    /// `--samples 3`: prompt i's response j is the oracle's draw from `fork(3i + j)`, written as line
    /// 3i + j with `"sample": j`; an interrupted file resumes to the same bytes; the loader reads
    /// it; a file of one response per prompt is not resumed with `--samples 3` (nor this one with 1),
    /// and greedy decoding refuses several samples.
    func testSeveralSamplesPerPromptResumeAndAreRefusedWhenInconsistent() throws {
        let (tok, teacher, _, data) = try TinyPair.make(peakedTeacher: false)
        let prompts = Array(data.examples.map(\.prompt).prefix(3))
        let t1 = SamplingSettings(temperature: 1)
        let full = tempFile("samples"), torn = tempFile("samples-torn"), single = tempFile("samples-single")
        defer { for f in [full, torn, single] { try? FileManager.default.removeItem(at: f) } }
        for f in [full, torn, single] { try? FileManager.default.removeItem(at: f) }
        func run(_ f: URL, samples: Int, sampling: SamplingSettings = SamplingSettings(temperature: 1)) throws -> TargetResponses.Summary {
            try TargetResponses.generate(model: teacher, tokenizer: tok, prompts: prompts, template: .plain, maxTokens: 5,
                                         stopTokens: [], output: f, keepUnfinished: true, parallel: 2,
                                         sampling: sampling, seed: 7, samples: samples)
        }
        XCTAssertEqual(try run(full, samples: 3).written, 9)
        let lines = try String(contentsOf: full, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 9)
        for (f, line) in lines.enumerated() {
            let l = try JSONDecoder().decode(TargetResponses.Line.self, from: Data(line.utf8))
            XCTAssertEqual(l.source_index, f / 3); XCTAssertEqual(l.sample, f % 3)
            var root = RandomGenerator(seed: 7)
            var rng = root.fork(f)
            var ids: [Int] = []
            try Generator(model: teacher, settings: t1, seed: 0)
                .generate(prompt: tok.encode(prompts[f / 3], addSpecialTokens: true), maxTokens: 5, rng: &rng) { ids.append($0) }
            XCTAssertEqual(l.response, tok.decode(ids), "line \(f)")
        }
        let responses = try lines.map { try JSONDecoder().decode(TargetResponses.Line.self, from: Data($0.utf8)).response }
        XCTAssertTrue((0..<3).contains { i in Set(responses[(3 * i)..<(3 * i + 3)]).count > 1 }, "a prompt's samples differ")
        let bytes = try Data(contentsOf: full)
        try bytes.prefix(bytes.indices.filter { bytes[$0] == 0x0A }[3] + 1 + 9).write(to: torn)
        XCTAssertEqual(try run(torn, samples: 3).resumedAfter, 4)
        XCTAssertEqual(try Data(contentsOf: torn), bytes)
        XCTAssertEqual(try PromptDataset.load(full, template: .plain, requireResponses: true).examples.count, 9)
        XCTAssertThrowsError(try run(full, samples: 1)) { e in XCTAssertTrue("\(e)".contains("--samples"), "\(e)") }
        _ = try run(single, samples: 1)
        XCTAssertThrowsError(try run(single, samples: 3)) { e in XCTAssertTrue("\(e)".contains("not --samples 3"), "\(e)") }
        XCTAssertThrowsError(try run(tempFile("greedy-samples"), samples: 2, sampling: .greedy)) { e in
            XCTAssertTrue("\(e)".contains("needs sampling"), "\(e)")
        }
    }
}
