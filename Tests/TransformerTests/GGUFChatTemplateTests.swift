import Foundation
import Formats
import Transformer
import XCTest

/// ChatTemplate on template texts (no model needed); the expected renderings come from
/// transformers' apply_chat_template (Fixtures/gguf/smollm2-chat.json, Scripts/compare-smollm2).
final class GGUFChatTemplateTests: XCTestCase {
    func testSmolLM2TemplateRendersLikeTransformers() throws {
        let fixture = try SmolLM2ChatFixture.load()
        let t = try ChatTemplate(jinja: fixture.template, source: "smollm2-chat.json")
        XCTAssertEqual(t.defaultSystemPrompt, "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        XCTAssertGreaterThanOrEqual(fixture.cases.count, 3)
        for c in fixture.cases { XCTAssertEqual(t.render(c.messages), c.rendered) }
    }

    /// Hand-written expectations for plain ChatML (no default system message), with and
    /// without the generation prompt.
    func testPlainChatML() throws {
        let user = [ChatMessage(role: "user", content: "Hi")]
        XCTAssertEqual(ChatTemplate.chatML.render(user), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(ChatTemplate.chatML.render(user, addGenerationPrompt: false), "<|im_start|>user\nHi<|im_end|>\n")
        // A ChatML template without a default system branch has no default system prompt.
        let plain = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
        XCTAssertEqual(try ChatTemplate(jinja: plain, source: "t"), .chatML)
        // Escaped "\n" inside the literal (the form tokenizer_config.json files use) reads the same.
        let escaped = "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are Qwen.<|im_end|>\\n' }}{% endif %}" + plain
        let q = try ChatTemplate(jinja: escaped, source: "t")
        XCTAssertEqual(q.defaultSystemPrompt, "You are Qwen.")
        XCTAssertEqual(q.render([ChatMessage(role: "system", content: "S")] + user),
                       "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
                       "an explicit system message replaces the default")
    }

    func testNonChatMLTemplateIsAClearError() {
        let llama2 = "{% for message in messages %}{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' }}{% endfor %}"
        XCTAssertThrowsError(try ChatTemplate(jinja: llama2, source: "model.gguf (tokenizer.chat_template)")) { error in
            XCTAssertTrue("\(error)".contains("model.gguf"), "\(error)")
            XCTAssertTrue("\(error)".contains("not ChatML"), "\(error)")
        }
    }

    /// Detection from a GGUF's `tokenizer.chat_template`, from tokenizer_config.json and from
    /// chat_template.jinja; nil when a model has none.
    func testFindsTheTemplateOfAModelPath() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("chat-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let template = try SmolLM2ChatFixture.load().template
        XCTAssertNil(try ChatTemplate.find(forModelAt: GGUFFixtures.url("llama.gguf").path))
        var w = GGUFWriter()
        try w.add(key: "general.architecture", .string("llama"))
        try w.add(key: "tokenizer.chat_template", .string(template))
        let gguf = dir.appendingPathComponent("chat.gguf")
        try w.write(to: gguf)
        let expected = try ChatTemplate(jinja: template, source: "")
        XCTAssertEqual(try ChatTemplate.find(forModelAt: gguf.path), expected)
        let hf = dir.appendingPathComponent("hf")
        try FileManager.default.createDirectory(at: hf, withIntermediateDirectories: true)
        XCTAssertNil(try ChatTemplate.find(forModelAt: hf.path))
        let config = try JSONSerialization.data(withJSONObject: ["chat_template": template, "eos_token": "<|im_end|>"])
        try config.write(to: hf.appendingPathComponent("tokenizer_config.json"))
        XCTAssertEqual(try ChatTemplate.find(forModelAt: hf.path), expected)
        try Data("{{ '<|im_start|>' }}{{ '<|im_end|>' }}".utf8).write(to: hf.appendingPathComponent("chat_template.jinja"))
        XCTAssertEqual(try ChatTemplate.find(forModelAt: hf.path), .chatML, "chat_template.jinja takes precedence")
    }
}
