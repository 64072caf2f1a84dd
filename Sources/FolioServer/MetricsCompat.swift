/// `--metrics-compat vllm`: the /metrics text with every `folio:` series also under vLLM's `vllm:` name, so tools
/// that read vLLM's names work unchanged: the Gateway API inference extension's endpoint picker
/// (`vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc` and the older `vllm:gpu_cache_usage_perc`,
/// `vllm:lora_requests_info`), vLLM's Grafana dashboards, KEDA/HPA rules written for vLLM.
public enum MetricsCompat {
    /// Names vLLM used before V1 that some readers still scrape, each a copy of a current series.
    static let aliases = ["kv_cache_usage_perc": ["gpu_cache_usage_perc"]]

    public static func withVLLMNames(_ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var out = lines.filter { !$0.isEmpty }
        var copies: [String: [String]] = [:]  // alias name -> its lines, in order
        for line in lines {
            guard let (prefix, name, rest) = split(line) else { continue }
            out.append(prefix + "vllm:" + name + rest)
            let family = familyName(name)
            for alias in aliases[family] ?? [] {
                copies[alias, default: []].append(prefix + "vllm:" + alias + name.dropFirst(family.count) + rest)
            }
        }
        for alias in aliases.values.flatMap({ $0 }) { out += copies[alias] ?? [] }
        return out.joined(separator: "\n") + "\n"
    }

    /// ("# TYPE " or "", the name after "folio:", the rest of the line) for a line that names a folio: series.
    static func split(_ line: String) -> (String, Substring, Substring)? {
        for prefix in ["# TYPE ", "# HELP ", ""] where line.hasPrefix(prefix + "folio:") {
            let body = line.dropFirst(prefix.count + "folio:".count)
            let end = body.firstIndex { $0 == "{" || $0 == " " } ?? body.endIndex
            return (prefix, body[..<end], body[end...])
        }
        return nil
    }

    /// A sample's family: its name without a histogram's or summary's suffix.
    static func familyName(_ name: Substring) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) { return String(name.dropLast(suffix.count)) }
        return String(name)
    }
}
