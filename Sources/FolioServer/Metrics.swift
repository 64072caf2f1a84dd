import FolioEngine
import Foundation

/// Prometheus exposition of the engine's counters, named as vLLM names them with the prefix `folio:`.
final class ServerMetrics: @unchecked Sendable {
    let model: String
    let lock = NSLock()
    var success: [String: Int] = [:]
    var ttft: [Double] = [], e2e: [Double] = [], queue: [Double] = [], itl: [Double] = []

    init(model: String) { self.model = model }

    func started(_ n: Int) {}

    func finished(_ o: RequestOutput) {
        lock.lock(); defer { lock.unlock() }
        for c in o.outputs { success[c.finishReason?.rawValue ?? "stop", default: 0] += 1 }
        if let t = o.metrics.timeToFirstToken { ttft.append(t) }
        if let f = o.metrics.finished { e2e.append(f.timeIntervalSince(o.metrics.arrival)) }
        if let q = o.metrics.queueTime { queue.append(q) }
        // Mean time between output tokens after the first, per sample.
        if let first = o.metrics.firstToken, let f = o.metrics.finished {
            for c in o.outputs where c.tokenIds.count > 1 { itl.append(f.timeIntervalSince(first) / Double(c.tokenIds.count - 1)) }
        }
    }

    func render(_ s: EngineStats) -> String {
        lock.lock(); defer { lock.unlock() }
        let l = "model_name=\"\(model)\""
        var out = ""
        func gauge(_ name: String, _ v: Double, _ help: String, type: String = "gauge") {
            out += "# HELP folio:\(name) \(help)\n# TYPE folio:\(name) \(type)\nfolio:\(name){\(l)} \(v)\n"
        }
        gauge("num_requests_running", Double(s.numRunning), "Sequences running.")
        gauge("num_requests_waiting", Double(s.numWaiting), "Sequences waiting.")
        gauge("kv_cache_usage_perc", s.kvCacheUsage, "Fraction of KV blocks in use.")
        gauge("prefix_cache_queries_total", Double(s.prefixCacheQueriedTokens), "Prompt tokens looked up in the prefix cache.", type: "counter")
        gauge("prefix_cache_hits_total", Double(s.prefixCacheHitTokens), "Prompt tokens found in the prefix cache.", type: "counter")
        gauge("prompt_tokens_total", Double(s.promptTokens), "Prompt tokens.", type: "counter")
        gauge("generation_tokens_total", Double(s.generationTokens), "Generated tokens.", type: "counter")
        gauge("num_preemptions_total", Double(s.numPreemptions), "Preemptions.", type: "counter")
        out += "# HELP folio:request_success_total Finished requests by finish reason.\n# TYPE folio:request_success_total counter\n"
        for r in ["stop", "length", "abort"] { out += "folio:request_success_total{\(l),finished_reason=\"\(r)\"} \(success[r] ?? 0)\n" }
        func histogram(_ name: String, _ xs: [Double], _ help: String) {
            let buckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80]
            out += "# HELP folio:\(name) \(help)\n# TYPE folio:\(name) histogram\n"
            for b in buckets { out += "folio:\(name)_bucket{\(l),le=\"\(b)\"} \(xs.filter { $0 <= b }.count)\n" }
            out += "folio:\(name)_bucket{\(l),le=\"+Inf\"} \(xs.count)\nfolio:\(name)_sum{\(l)} \(xs.reduce(0, +))\nfolio:\(name)_count{\(l)} \(xs.count)\n"
        }
        histogram("time_to_first_token_seconds", ttft, "Time to first token.")
        histogram("inter_token_latency_seconds", itl, "Time between output tokens.")
        histogram("e2e_request_latency_seconds", e2e, "End-to-end request latency.")
        histogram("request_queue_time_seconds", queue, "Time in the waiting queue.")
        return out
    }
}
