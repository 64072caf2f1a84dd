/// One /metrics text from the /metrics texts of data-parallel replicas: each family once (its `# HELP` / `# TYPE`
/// lines once, then every replica's samples), each sample labelled with its replica as vLLM labels its engines
/// (`engine="0"`, `engine="1"`, ...), so sums and per-replica views both work in PromQL.
public enum MetricsMerge {
    public static func merge(_ texts: [String], label: String = "engine") -> String {
        var order: [String] = []
        var comments: [String: [String]] = [:]
        var samples: [String: [String]] = [:]
        for (i, text) in texts.enumerated() {
            var family: String? = nil
            for line in text.split(separator: "\n") {
                if line.hasPrefix("#") {
                    // "# HELP name ..." / "# TYPE name kind": the family of the samples that follow.
                    let parts = line.split(separator: " ", maxSplits: 3)
                    guard parts.count >= 3, parts[1] == "HELP" || parts[1] == "TYPE" else { continue }
                    let name = String(parts[2])
                    family = name
                    if comments[name] == nil, samples[name] == nil { order.append(name) }
                    if !(comments[name] ?? []).contains(where: { $0.hasPrefix("# \(parts[1]) ") }) {
                        comments[name, default: []].append(String(line))
                    }
                    continue
                }
                let end = line.firstIndex { $0 == "{" || $0 == " " } ?? line.endIndex
                let name = family.map { line[..<end].hasPrefix($0) ? $0 : String(line[..<end]) } ?? String(line[..<end])
                if comments[name] == nil, samples[name] == nil { order.append(name) }
                samples[name, default: []].append(labelled(line, label: label, value: String(i)))
            }
        }
        return order.map { ((comments[$0] ?? []) + (samples[$0] ?? [])).joined(separator: "\n") }.joined(separator: "\n") + "\n"
    }

    /// `name{a="b"} 1` -> `name{engine="0",a="b"} 1`; `name 1` -> `name{engine="0"} 1`.
    static func labelled(_ line: Substring, label: String, value: String) -> String {
        let pair = "\(label)=\"\(value)\""
        guard let end = line.firstIndex(where: { $0 == "{" || $0 == " " }) else { return String(line) }
        if line[end] == "{" {
            let after = line.index(after: end)
            let empty = after < line.endIndex && line[after] == "}"
            return String(line[...end]) + pair + (empty ? "" : ",") + line[after...]
        }
        return String(line[..<end]) + "{\(pair)}" + line[end...]
    }
}
