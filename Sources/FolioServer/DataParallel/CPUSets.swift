import CFolioKernels
import Foundation

/// CPU lists in Linux's syntax ("0-3,8,10-11") and their split among data-parallel replicas.
public enum CPUSets {
    /// "0-3,8" -> [0, 1, 2, 3, 8]; nil if malformed.
    public static func parse(_ text: String) -> [Int]? {
        var out: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
            guard ends.count == 1 || ends.count == 2, let a = Int(ends[0]), let b = Int(ends.last!), a >= 0, b >= a else { return nil }
            out += Array(a...b)
        }
        return out.isEmpty ? nil : out
    }

    /// [0, 1, 2, 3, 8] -> "0-3,8".
    public static func format(_ cpus: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        let c = cpus.sorted()
        while i < c.count {
            var j = i
            while j + 1 < c.count, c[j + 1] == c[j] + 1 { j += 1 }
            parts.append(i == j ? "\(c[i])" : "\(c[i])-\(c[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    /// The CPUs this process may run on (its affinity).
    public static func allowed() -> [Int] {
        let n = Int(folio_allowed_cpus(nil, 0))
        guard n > 0 else { return [] }
        var cpus = [Int32](repeating: 0, count: n)
        let m = Int(folio_allowed_cpus(&cpus, Int32(n)))
        return cpus.prefix(min(n, max(m, 0))).map(Int.init)
    }

    /// The machine's NUMA nodes' CPUs (from /sys; one node with every CPU where there is no such information).
    public static func numaNodes(sys: String = "/sys/devices/system/node") -> [[Int]] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: sys)) ?? []
        let nodes = names.filter { $0.hasPrefix("node") && Int($0.dropFirst(4)) != nil }.sorted { Int($0.dropFirst(4))! < Int($1.dropFirst(4))! }
        return nodes.compactMap { (try? String(contentsOfFile: "\(sys)/\($0)/cpulist", encoding: .utf8)).flatMap { parse($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }
    }

    /// Splits `cpus` into `n` near-equal sets, node by node, so each set lies within one NUMA node whenever the
    /// node sizes allow it (n a multiple of the node count, equal nodes). Nil when there are fewer CPUs than sets.
    public static func split(_ cpus: [Int], into n: Int, nodes: [[Int]]) -> [[Int]]? {
        guard n >= 1, cpus.count >= n else { return nil }
        let allowed = Set(cpus)
        var ordered: [Int] = [], taken = Set<Int>()
        for cpu in nodes.joined() + cpus where allowed.contains(cpu) && taken.insert(cpu).inserted { ordered.append(cpu) }
        let base = ordered.count / n, extra = ordered.count % n
        var out: [[Int]] = []
        var i = 0
        for k in 0..<n {
            let size = base + (k < extra ? 1 : 0)
            out.append(Array(ordered[i..<(i + size)]))
            i += size
        }
        return out
    }

    /// Pins this process (every thread, and those it starts later) to `cpus`.
    public static func bind(_ cpus: [Int]) throws {
        let ids = cpus.map(Int32.init)
        let rc = folio_bind_cpus(ids, Int32(ids.count))
        if rc != 0 { throw CPUSetError(message: "cannot bind to CPUs \(format(cpus)): error \(-rc)") }
    }
}

public struct CPUSetError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
