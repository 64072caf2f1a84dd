import FolioServer
import Foundation
import Testing

@Suite("Data parallel: metrics and CPU sets")
struct DataParallelTests {
    let a = """
    # TYPE folio:num_requests_running gauge
    folio:num_requests_running{model_name="m"} 2
    # HELP folio:ttft_seconds Time to first token.
    # TYPE folio:ttft_seconds histogram
    folio:ttft_seconds_bucket{model_name="m",le="0.1"} 1
    folio:ttft_seconds_bucket{model_name="m",le="+Inf"} 3
    folio:ttft_seconds_sum{model_name="m"} 0.5
    folio:ttft_seconds_count{model_name="m"} 3
    plain_total 7

    """

    @Test("merging labels each replica's samples and keeps each family's HELP/TYPE once, before its samples")
    func merge() {
        let b = a.replacingOccurrences(of: "} 2", with: "} 5")
        let m = MetricsMerge.merge([a, b]).split(separator: "\n").map(String.init)
        #expect(m == [
            "# TYPE folio:num_requests_running gauge",
            "folio:num_requests_running{engine=\"0\",model_name=\"m\"} 2",
            "folio:num_requests_running{engine=\"1\",model_name=\"m\"} 5",
            "# HELP folio:ttft_seconds Time to first token.",
            "# TYPE folio:ttft_seconds histogram",
            "folio:ttft_seconds_bucket{engine=\"0\",model_name=\"m\",le=\"0.1\"} 1",
            "folio:ttft_seconds_bucket{engine=\"0\",model_name=\"m\",le=\"+Inf\"} 3",
            "folio:ttft_seconds_sum{engine=\"0\",model_name=\"m\"} 0.5",
            "folio:ttft_seconds_count{engine=\"0\",model_name=\"m\"} 3",
            "folio:ttft_seconds_bucket{engine=\"1\",model_name=\"m\",le=\"0.1\"} 1",
            "folio:ttft_seconds_bucket{engine=\"1\",model_name=\"m\",le=\"+Inf\"} 3",
            "folio:ttft_seconds_sum{engine=\"1\",model_name=\"m\"} 0.5",
            "folio:ttft_seconds_count{engine=\"1\",model_name=\"m\"} 3",
            "plain_total{engine=\"0\"} 7",
            "plain_total{engine=\"1\"} 7",
        ])
    }

    @Test("--metrics-compat vllm copies every folio: family under vllm: (and kv_cache_usage_perc as gpu_cache_usage_perc)")
    func vllmNames() {
        let text = a + "# TYPE folio:kv_cache_usage_perc gauge\nfolio:kv_cache_usage_perc{model_name=\"m\"} 0.25\n"
        let lines = MetricsCompat.withVLLMNames(text).split(separator: "\n").map(String.init)
        for l in text.split(separator: "\n").map(String.init) { #expect(lines.contains(l)) }
        #expect(lines.contains("vllm:num_requests_running{model_name=\"m\"} 2"))
        #expect(lines.contains("# TYPE vllm:ttft_seconds histogram"))
        #expect(lines.contains("vllm:ttft_seconds_bucket{model_name=\"m\",le=\"+Inf\"} 3"))
        #expect(lines.contains("vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.25"))
        #expect(lines.contains("# TYPE vllm:gpu_cache_usage_perc gauge"))
        #expect(!lines.contains { $0.hasPrefix("vllm:plain") })
        // Each family's lines stay together: a TYPE line is followed by its own samples.
        let i = lines.firstIndex(of: "# TYPE vllm:gpu_cache_usage_perc gauge")!
        #expect(lines[i + 1] == "vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.25")
    }

    @Test("CPU lists parse and format in Linux's syntax; malformed ones are refused")
    func cpuLists() {
        #expect(CPUSets.parse("0-3,8,10-11") == [0, 1, 2, 3, 8, 10, 11])
        #expect(CPUSets.format([11, 0, 1, 2, 3, 8, 10]) == "0-3,8,10-11")
        for bad in ["", "a", "3-1", "1-", "-1", "1,,2"] { #expect(CPUSets.parse(bad) == nil, "\(bad)") }
    }

    @Test("CPUs split into near-equal shares node by node; fewer CPUs than replicas is refused")
    func split() {
        let nodes = [[0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]]
        let all = Array(0..<16)
        #expect(CPUSets.split(all, into: 2, nodes: nodes) == nodes)
        #expect(CPUSets.split(all, into: 4, nodes: nodes) == [[0, 1, 2, 3], [8, 9, 10, 11], [4, 5, 6, 7], [12, 13, 14, 15]])
        #expect(CPUSets.split([0, 1, 2], into: 2, nodes: []) == [[0, 1], [2]])
        #expect(CPUSets.split([0, 1], into: 3, nodes: []) == nil)
        // Only allowed CPUs are used, whatever the nodes list.
        #expect(CPUSets.split([1, 5], into: 2, nodes: nodes) == [[1], [5]])
    }
}
