import FolioEngine
import Foundation
import Metrics

/// The server's metrics through the swift-metrics API, named as vLLM names them with the prefix `folio:` and a
/// `model_name` label. `folio serve` bootstraps a Prometheus backend (swift-prometheus) and serves its text at
/// /metrics; without a bootstrap these are no-ops.
final class ServerMetrics: @unchecked Sendable {
    let dims: [(String, String)]
    let lock = NSLock()
    let running, waiting, kvUsage: Gauge
    let prefixQueries, prefixHits, promptTokens, generationTokens, preemptions: Counter
    let ttft, itl, e2e, queue: Recorder
    /// Speculative decoding (vLLM's spec_decode counters; per position labelled `position`).
    let specDrafts, specDraftTokens, specAccepted: Counter
    var specPerPos: [Counter] = []
    var last = EngineStats()

    init(model: String) {
        dims = [("model_name", model)]
        running = Gauge(label: "folio:num_requests_running", dimensions: dims)
        waiting = Gauge(label: "folio:num_requests_waiting", dimensions: dims)
        kvUsage = Gauge(label: "folio:kv_cache_usage_perc", dimensions: dims)
        prefixQueries = Counter(label: "folio:prefix_cache_queries_total", dimensions: dims)
        prefixHits = Counter(label: "folio:prefix_cache_hits_total", dimensions: dims)
        promptTokens = Counter(label: "folio:prompt_tokens_total", dimensions: dims)
        generationTokens = Counter(label: "folio:generation_tokens_total", dimensions: dims)
        preemptions = Counter(label: "folio:num_preemptions_total", dimensions: dims)
        ttft = Recorder(label: "folio:time_to_first_token_seconds", dimensions: dims, aggregate: true)
        itl = Recorder(label: "folio:inter_token_latency_seconds", dimensions: dims, aggregate: true)
        e2e = Recorder(label: "folio:e2e_request_latency_seconds", dimensions: dims, aggregate: true)
        queue = Recorder(label: "folio:request_queue_time_seconds", dimensions: dims, aggregate: true)
        specDrafts = Counter(label: "folio:spec_decode_num_drafts_total", dimensions: dims)
        specDraftTokens = Counter(label: "folio:spec_decode_num_draft_tokens_total", dimensions: dims)
        specAccepted = Counter(label: "folio:spec_decode_num_accepted_tokens_total", dimensions: dims)
        for r in ["stop", "length", "abort"] { Counter(label: "folio:request_success_total", dimensions: dims + [("finished_reason", r)]).increment(by: 0) }
    }

    func finished(_ o: RequestOutput) {
        for c in o.outputs {
            Counter(label: "folio:request_success_total", dimensions: dims + [("finished_reason", c.finishReason?.rawValue ?? "stop")]).increment()
        }
        if let t = o.metrics.timeToFirstToken { ttft.record(t) }
        if let f = o.metrics.finished { e2e.record(f.timeIntervalSince(o.metrics.arrival)) }
        if let q = o.metrics.queueTime { queue.record(q) }
        // Mean time between output tokens after the first, per sample.
        if let first = o.metrics.firstToken, let f = o.metrics.finished {
            for c in o.outputs where c.numTokens > 1 { itl.record(f.timeIntervalSince(first) / Double(c.numTokens - 1)) }
        }
    }

    /// Brings the engine's gauges and counters up to date (called before each scrape).
    func update(_ s: EngineStats) {
        lock.lock(); defer { lock.unlock() }
        running.record(s.numRunning)
        waiting.record(s.numWaiting)
        kvUsage.record(s.kvCacheUsage)
        prefixQueries.increment(by: max(0, s.prefixCacheQueriedTokens - last.prefixCacheQueriedTokens))
        prefixHits.increment(by: max(0, s.prefixCacheHitTokens - last.prefixCacheHitTokens))
        promptTokens.increment(by: max(0, s.promptTokens - last.promptTokens))
        generationTokens.increment(by: max(0, s.generationTokens - last.generationTokens))
        preemptions.increment(by: max(0, s.numPreemptions - last.numPreemptions))
        if let sd = s.specDecode {
            let prev = last.specDecode ?? SpecDecodeStats()
            specDrafts.increment(by: sd.numDrafts - prev.numDrafts)
            specDraftTokens.increment(by: sd.numDraftTokens - prev.numDraftTokens)
            specAccepted.increment(by: sd.numAcceptedTokens - prev.numAcceptedTokens)
            if specPerPos.isEmpty {
                specPerPos = sd.numAcceptedTokensPerPos.indices.map {
                    Counter(label: "folio:spec_decode_num_accepted_tokens_per_pos_total", dimensions: dims + [("position", String($0))])
                }
            }
            for (i, c) in specPerPos.enumerated() {
                c.increment(by: sd.numAcceptedTokensPerPos[i] - (prev.numAcceptedTokensPerPos.count > i ? prev.numAcceptedTokensPerPos[i] : 0))
            }
        }
        if let running = s.runningLoRAAdapters, let waiting = s.waitingLoRAAdapters {
            // vLLM's info gauge: the labels say which adapters run and wait, the value is when that was seen.
            Gauge(label: "folio:lora_requests_info", dimensions: [("max_lora", String(s.maxLoras)),
                                                                   ("waiting_lora_adapters", waiting.joined(separator: ",")),
                                                                   ("running_lora_adapters", running.joined(separator: ","))])
                .record(Date().timeIntervalSince1970)
        }
        last = s
    }
}
