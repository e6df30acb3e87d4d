import Foundation
import RecCore
import RecOPE
import Testing

/// The pseudo-inverse slate estimator (`SlatePseudoInverse`, PI and SNPI): its weights against the
/// identity that defines them (for a reward linear in the slate's (position, item) pairs, the
/// logging policy's expectation of ψ·R is the target's value, summed over every slate), the
/// uniform closed form against the enumerated pseudo-inverse, the engine's values against plain
/// loops, shards against one pass, and its refusals. numpy's pinv is the reference in
/// `python/tests/test_slate_pi.py`.
@Suite struct SlatePseudoInverseTests {
    /// Every ordered slate of K distinct items out of m.
    static func slates(_ m: Int, _ K: Int) -> [[Int]] {
        var out = [[Int]]()
        func visit(_ s: [Int]) {
            if s.count == K { return out.append(s) }
            for a in 0..<m where !s.contains(a) { visit(s + [a]) }
        }
        visit([])
        return out
    }

    /// A uniform logging policy's closed form gives every slate the weight of the enumerated
    /// pseudo-inverse of a Plackett–Luce policy with equal scores (the same distribution), K < m
    /// and K = m.
    @Test(arguments: [(5, 3), (6, 2), (4, 4), (7, 1), (6, 5), (3, 3)])
    func uniformClosedFormEqualsTheEnumeratedPseudoInverse(m: Int, K: Int) throws {
        let target = try PlackettLuce(scores: (0..<m).map { sin(Double($0) * 1.7) * 1.5 })
        let q = try target.exactMarginals(k: K)
        let closed = try SlatePseudoInverse(target: q, logging: try UniformRandomRanking(items: m), depth: K)
        let enumerated = try SlatePseudoInverse(
            target: q, logging: try PlackettLuce(scores: [Double](repeating: 0.25, count: m)), depth: K)
        #expect(closed.method == .uniformClosedForm && enumerated.method == .enumerated)
        for s in Self.slates(m, K) {
            let (a, b) = (closed.weight(of: s), enumerated.weight(of: s))
            #expect(abs(a - b) <= 1e-10 * max(1, abs(a)), "\(s): \(a) vs \(b)")
        }
    }

    /// For R(s) = Σ_j φ(j, s_j): Σ_s μ(s)·ψ(s)·R(s) = Σ_{j,a} q(j, a)·φ(j, a), the target's value
    /// (PI's unbiasedness, exactly, over every slate), and Σ_s μ(s)·ψ(s) = 1; for Plackett–Luce
    /// and uniform logging policies, Plackett–Luce and Thompson-sampling targets.
    @Test func weightsAreUnbiasedForLinearRewards() throws {
        let m = 6
        let K = 3
        let phi = (0..<(K * m)).map { cos(Double($0) * 0.9) + 0.3 }
        let loggings: [any RankingPolicy] = [
            try PlackettLuce(scores: [0.4, -0.8, 1.3, 0.0, -0.2, 0.7], temperature: 0.9),
            try UniformRandomRanking(items: m),
        ]
        let targets: [any RankingPolicy] = [
            try PlackettLuce(scores: [1.0, 0.2, -0.5, 2.0, 0.1, -1.0]),
            try ThompsonSampling(alpha: [2, 3, 1, 4, 2, 6], beta: [5, 5, 6, 4, 7, 3]),
        ]
        for logging in loggings {
            let mu = logging as! any RankingProbabilities
            for target in targets {
                let q = try target.exactMarginals(k: K)
                let pi = try SlatePseudoInverse(target: q, logging: logging, depth: K)
                var value = 0.0
                var mass = 0.0
                var total = 0.0
                for s in Self.slates(m, K) {
                    let p = try mu.prefixProbabilities(of: s)[K - 1]
                    let r = s.enumerated().map { phi[$0.offset * m + $0.element] }.reduce(0, +)
                    value += p * pi.weight(of: s) * r
                    mass += p * pi.weight(of: s)
                    total += p
                }
                var truth = 0.0
                for j in 0..<K { for a in 0..<m { truth += q.probability(item: a, rank: j) * phi[j * m + a] } }
                #expect(abs(total - 1) < 1e-12)
                #expect(
                    abs(value - truth) <= 1e-9 * abs(truth), "\(logging.name) / \(target.name): \(value) vs \(truth)")
                #expect(abs(mass - 1) <= 1e-9, "\(logging.name) / \(target.name)")
            }
        }
    }

    /// A log of `slates` slates of `K` items drawn from `logging`, clicks linear in (position,
    /// item); its text and the slates.
    static func log(
        _ logging: PlackettLuce, slates n: Int, depth K: Int, seed: UInt64
    ) throws -> (csv: String, slates: [(items: [Int], clicks: [Double])]) {
        var g = Xoshiro256(seed: seed)
        var csv = "sid,item,pos,click\n"
        var out = [(items: [Int], clicks: [Double])]()
        let m = logging.itemCount
        for s in 0..<n {
            var items = [Int]()
            for _ in 0..<K {
                let next = try logging.nextProbabilities(after: items)
                var u = Sampling.uniform(&g)
                var a = 0
                while a < m - 1 && (next[a] == 0 || u >= next[a]) {
                    u -= next[a]
                    a += 1
                }
                while next[a] == 0 { a -= 1 }
                items.append(a)
            }
            var clicks = [Double]()
            for (p, a) in items.enumerated() {
                let c: Double = Sampling.uniform(&g) < (0.1 + 0.05 * Double(a % 4)) * [1.0, 0.7, 0.5, 0.4][p] ? 1 : 0
                clicks.append(c)
                csv += "s\(s),\(a),\(p),\(Int(c))\n"
            }
            out.append((items, clicks))
        }
        return (csv, out)
    }

    /// The engine's PI and SNPI equal Σψ·R / S and Σψ·R / Σψ in plain loops; two shards cut
    /// between slates and merged through their JSON equal one pass; refusals are typed errors.
    @Test func engineEqualsPlainLoopsAndShards() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slate-pi-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let logging = try PlackettLuce(scores: [0.2, -0.4, 0.9, 0.0, 0.5, -0.9, 0.3, 0.1])
        let target = try PlackettLuce(scores: [1.2, -0.3, 0.4, 0.8, -1.0, 0.0, 0.6, -0.5])
        let K = 3
        let (csv, logged) = try Self.log(logging, slates: 30_000, depth: K, seed: 9)
        let path = dir.appendingPathComponent("log.csv").path
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        let q = try target.exactMarginals(k: K)
        let pi = try SlatePseudoInverse(target: q, logging: logging, depth: K)
        var sumPsiR = 0.0
        var sumPsi = 0.0
        for (items, clicks) in logged {
            let psi = pi.weight(of: items)
            sumPsiR += psi * clicks.reduce(0, +)
            sumPsi += psi
        }
        let columns = try LogColumns.parse("slate=sid,item=item,position=pos,reward=click")
        let t = SlateTarget(name: "pl", policy: target, marginals: q)
        let report = try SlateEvaluation.run(
            path: path, columns: columns, targets: [t], bootstrap: 30, logging: logging)
        let est = report.evaluations[0].estimates
        #expect(est.map(\.estimator) == [.PI, .SNPI])
        #expect(abs(est[0].value - sumPsiR / 30_000) <= 1e-12 * abs(est[0].value))
        #expect(abs(est[1].value - sumPsiR / sumPsi) <= 1e-12 * abs(est[1].value))
        #expect(est[0].method == .poissonBootstrap && est[0].interval.low < est[0].value)
        // Drawn from the logging policy: mean ψ within its standard errors of 1, no warning. The
        // same log declared uniform: the check says the log does not look drawn from it.
        #expect(report.evaluations[0].warnings.isEmpty, "\(report.evaluations[0].warnings)")
        let declaredUniform = try SlateEvaluation.run(
            path: path, columns: columns, targets: [t], logging: try UniformRandomRanking(items: 8))
        #expect(declaredUniform.evaluations[0].warnings.contains { $0.hasPrefix("PI: the slates' mean weight ψ") })
        // Shards: the first 10,000 slates and the rest, merged in file order through JSON.
        let lines = csv.split(separator: "\n", omittingEmptySubsequences: false)
        let cut = 1 + 10_000 * K
        let a = dir.appendingPathComponent("a.csv").path
        let b = dir.appendingPathComponent("b.csv").path
        try (lines[0..<cut].joined(separator: "\n") + "\n").write(toFile: a, atomically: true, encoding: .utf8)
        try ([lines[0]] + lines[cut...]).joined(separator: "\n").write(toFile: b, atomically: true, encoding: .utf8)
        var merged = try SlateShard.decode(
            try SlateEvaluation.shard(
                path: a, columns: columns, targets: [t], depth: K, bootstrap: 30, logging: logging
            ).encoded(), file: "a")
        try merged.merge(
            try SlateShard.decode(
                try SlateEvaluation.shard(
                    path: b, columns: columns, targets: [t], depth: K, bootstrap: 30, logging: logging
                ).encoded(), file: "b"))
        let sharded = try merged.report().evaluations[0].estimates
        for (x, y) in zip(sharded, est) {
            #expect(abs(x.value - y.value) <= 1e-12 * abs(y.value))
            #expect(abs(x.interval.low - y.interval.low) <= 1e-12 * abs(y.interval.low))
        }
        // A slate short of the depth: the line is named.
        let short = dir.appendingPathComponent("short.csv").path
        try "sid,item,pos,click\ns1,0,0,1\ns1,1,1,0\ns1,2,2,0\ns2,3,0,1\ns2,4,1,0\n".write(
            toFile: short, atomically: true, encoding: .utf8)
        #expect {
            _ = try SlateEvaluation.run(path: short, columns: columns, targets: [t], depth: K, logging: logging)
        } throws: { error in
            guard case .malformedFile(let file, let line, let message) = error as? RecOPEError else { return false }
            return file == short && line == 5 && message.contains("fill positions 0…2")
        }
        // A logging policy whose pairwise probabilities RecKit does not compute; items that differ;
        // past the enumeration limit; a log without target policies.
        let ts = try ThompsonSampling(alpha: [Double](repeating: 2, count: 8), beta: [Double](repeating: 3, count: 8))
        #expect(throws: RecOPEError.self) { try SlatePseudoInverse(target: q, logging: ts, depth: K) }
        #expect(throws: RecOPEError.self) {
            try SlatePseudoInverse(target: q, logging: try UniformRandomRanking(items: 9), depth: K)
        }
        let wide = try PlackettLuce(scores: (0..<200).map { Double($0 % 7) })
        #expect(throws: RecOPEError.self) {
            try SlatePseudoInverse(target: try wide.exactMarginals(k: 3), logging: wide, depth: 3)
        }
        #expect(throws: RecOPEError.self) {
            try SlateEvaluation.shard(path: path, columns: columns, targets: [], depth: K, logging: logging)
        }
    }
}
