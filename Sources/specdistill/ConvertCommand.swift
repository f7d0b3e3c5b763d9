import ArgumentParser
import Foundation
import SpecDistill

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a GGUF model into a Hugging Face directory (float32 safetensors).",
        discussion: """
        Writes config.json, model.safetensors (every tensor dequantised to float32, Hugging Face \
        names and layouts) and, when the GGUF embeds a tokenizer, tokenizer.json and \
        tokenizer_config.json (with the chat template). transformers loads the directory with \
        AutoModelForCausalLM.from_pretrained(DIR) and gives the GGUF's logits.
        """
    )
    @Argument(help: "The .gguf file.") var model: String
    @Option(help: "Output directory (created if needed).") var out: String
    @Flag(help: "Replace the model files of an existing directory.") var force = false

    func validate() throws {
        let config = URL(fileURLWithPath: (out as NSString).expandingTildeInPath).appendingPathComponent("config.json")
        if !force && FileManager.default.fileExists(atPath: config.path) {
            throw ValidationError("\(out) already holds a model (config.json); pass --force to replace it or choose another --out")
        }
    }

    func run() throws {
        let url = URL(fileURLWithPath: (model as NSString).expandingTildeInPath)
        guard GGUFModelLoader.looksLikeGGUF(url) else {
            throw ValidationError("\(model): not a GGUF file (it must start with \"GGUF\"); convert takes a .gguf file")
        }
        let dir = URL(fileURLWithPath: (out as NSString).expandingTildeInPath)
        let t0 = Date()
        let written = try GGUFModelLoader.convert(url, to: dir)
        printErr(String(format: "converted %@ in %.2f s", model, Date().timeIntervalSince(t0)))
        for name in written { print(dir.appendingPathComponent(name).path) }
        if !written.contains("tokenizer.json") {
            printErr("note: \(model) embeds no tokenizer; copy the tokenizer.json of the model's family into \(out)")
        }
    }
}
