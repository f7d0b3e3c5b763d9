extension TransformerModel {
    /// Bytes of weights one batch-1 decoding step reads — the one formula behind c from weight
    /// bytes, MBSU and the decode benchmark's bandwidth bound.
    ///
    /// Every parameter at 4 bytes (float32) or, for matrices held in their GGUF types
    /// (``native``), at their stored bytes; except the rows of the token (and GPT-2 position)
    /// embedding tables, which are gathered one row per token (a few KB, not counted) — unless the
    /// output head is tied to the token embedding, in which case the whole table is read as the
    /// head. With a trimmed output layer of `outputRows` rows, only those rows of the head count.
    public func weightBytesPerStep(outputRows: Int? = nil) -> Int {
        let c = config
        var count = parameterCount - (c.vocabSize - (outputRows ?? c.vocabSize)) * c.hiddenSize
        if !c.tieWordEmbeddings { count -= c.vocabSize * c.hiddenSize }
        if parameters.contains("pos_embed.weight") { count -= c.maxPositions * c.hiddenSize }
        var bytes = count * MemoryLayout<Float>.size
        for (name, m) in native?.matrices ?? [] {
            if name == "embed.weight" && !c.tieWordEmbeddings { continue }   // gathered, excluded above
            let rows = name == "lm_head.weight" || name == "embed.weight" ? (outputRows ?? c.vocabSize) : m.rows
            bytes += rows * m.byteCount / m.rows - rows * m.cols * MemoryLayout<Float>.size
        }
        return bytes
    }
}
