import FolioEngine
import FolioModels
import FolioOpenAI
import Foundation
import Hummingbird

extension OpenAIServer {
    /// `POST /v1/embeddings`: every input prepared (tokenized, length-checked) before any runs, then all of them
    /// through the embedding engine's shared batches; errors as vLLM words them.
    func embeddings(_ req: Request) async throws -> Response {
        guard let embedder else { throw APIError(status: 501, message: "The model does not support Embeddings API", type: "NotImplementedError") }
        return try await withBody(req) { _, body in
            let r = try EmbeddingsRequest.parse(body)
            _ = try resolveModel(r.model)
            let m = embedder.model
            let name = config.servedModelName
            if let d = r.dimensions {
                guard m.isMatryoshka else {
                    throw APIError.invalid("Model '\(name)' does not support Matryoshka embeddings; dimensions must be unset (received dimensions=\(d)).", param: "dimensions")
                }
                guard d >= 1, d <= m.hiddenSize else {
                    throw APIError.invalid("Model '\(name)' only supports dimensions in range [1, \(m.hiddenSize)], got \(d).", param: "dimensions")
                }
                if let mds = m.matryoshkaDimensions, !mds.contains(d) {
                    throw APIError.invalid("Model '\(name)' only supports Matryoshka dimensions \(mds), got \(d).", param: "dimensions")
                }
            }
            let ids: [[Int32]]
            do {
                ids = try r.inputs.map { input in
                    switch input {
                    case .text(let t): return try embedder.prepare(text: t, addSpecialTokens: r.addSpecialTokens, truncatePromptTokens: r.truncatePromptTokens)
                    case .tokens(let t), .tokenized(_, let t): return try embedder.prepare(tokens: t, truncatePromptTokens: r.truncatePromptTokens)
                    }
                }
            } catch { throw APIError.from(error) }
            let out: [[Float]]
            do {
                out = try await embedder.embed(ids, options: PoolingOptions(dimensions: r.dimensions, normalize: r.normalize),
                                               maxWaiting: config.maxNumQueuedRequests)
            } catch let e as EmbeddingEngine.QueueFull {
                throw APIError(status: 429, message: "too many queued requests (\(e.waiting)); retry later")
            } catch { throw APIError.from(error) }
            return Self.json(r.response(model: r.model ?? name, embeddings: out, promptTokens: ids.reduce(0) { $0 + $1.count }))
        }
    }
}
