import Foundation
import RecCore
import RecIO
import RecNN
import Testing
import _RecTestSupport

/// A naive Double SASRec forward (no dropout) over named parameters, for finite differences.
struct NaiveSASRec {
    let c: SASRec.Config
    func linear(_ p: [String: [Double]], _ name: String, _ x: [[Double]]) -> [[Double]] {
        let w = p[name + ".weight"]!
        let b = p[name + ".bias"]!
        let outF = b.count
        let inF = w.count / outF
        var out = [[Double]]()
        for row in x {
            var y = [Double](repeating: 0, count: outF)
            for o in 0..<outF {
                var acc = b[o]
                for i in 0..<inF { acc += w[o * inF + i] * row[i] }
                y[o] = acc
            }
            out.append(y)
        }
        return out
    }
    func layerNorm(_ p: [String: [Double]], _ name: String, _ x: [[Double]]) -> [[Double]] {
        let g = p[name + ".weight"]!
        let b = p[name + ".bias"]!
        return x.map { row in
            let m = row.reduce(0, +) / Double(row.count)
            let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(row.count)
            return row.indices.map { (row[$0] - m) / (v + 1e-5).squareRoot() * g[$0] + b[$0] }
        }
    }
    func add(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] { zip(a, b).map { zip($0, $1).map(+) } }

    func attention(_ p: [String: [Double]], _ name: String, queries: [[Double]], keys: [[Double]], B: Int, pad: [Bool])
        -> [[Double]]
    {
        let L = c.length
        let d = c.dim
        let H = c.heads
        let dh = d / H
        let q = linear(p, name + ".q", queries)
        let k = linear(p, name + ".k", keys)
        let v = linear(p, name + ".v", keys)
        var out = [[Double]](repeating: [Double](repeating: 0, count: d), count: B * L)
        for b in 0..<B {
            for h in 0..<H {
                for i in 0..<L {
                    var s = [Double](repeating: -.infinity, count: L)
                    for j in 0...i where !pad[b * L + j] {
                        var dot = 0.0
                        for t in 0..<dh { dot += q[b * L + i][h * dh + t] * k[b * L + j][h * dh + t] }
                        s[j] = dot / Double(dh).squareRoot()
                    }
                    guard let m = s.max(), m > -.infinity else { continue }
                    let e = s.map { $0 == -.infinity ? 0 : exp($0 - m) }
                    let z = e.reduce(0, +)
                    for t in 0..<dh {
                        var o = 0.0
                        for j in 0..<L { o += e[j] / z * v[b * L + j][h * dh + t] }
                        out[b * L + i][h * dh + t] = o
                    }
                }
            }
        }
        return p[name + ".out.weight"] == nil ? out : linear(p, name + ".out", out)
    }
    func ffn(_ p: [String: [Double]], _ name: String, _ x: [[Double]]) -> [[Double]] {
        linear(p, name + ".w2", linear(p, name + ".w1", x).map { $0.map { max($0, 0) } })
    }
    func mask(_ x: [[Double]], _ pad: [Bool]) -> [[Double]] {
        x.indices.map { pad[$0] ? [Double](repeating: 0, count: x[$0].count) : x[$0] }
    }

    func states(_ p: [String: [Double]], _ seqs: [[Int]]) -> [[Double]] {
        let L = c.length
        let d = c.dim
        let B = seqs.count
        let ids = seqs.flatMap { $0 }
        let pad = ids.map { $0 == 0 }
        let emb = p["item_embedding.weight"]!
        let pos = p["position_embedding.weight"]!
        let scale = c.layout == .original ? Double(d).squareRoot() : 1
        var x = [[Double]]()
        for r in ids.indices {
            var row = [Double](repeating: 0, count: d)
            for j in 0..<d { row[j] = emb[ids[r] * d + j] * scale + pos[(r % L) * d + j] }
            x.append(row)
        }
        x = mask(x, pad)
        for bi in 0..<c.blocks {
            let n = "blocks.\(bi)"
            switch c.layout {
            case .original:
                let q = layerNorm(p, n + ".ln1", x)
                let h = add(q, attention(p, n + ".attn", queries: q, keys: x, B: B, pad: pad))
                let u = layerNorm(p, n + ".ln2", h)
                x = mask(add(u, ffn(p, n + ".ffn", u)), pad)
            case .preLN:
                let xn = layerNorm(p, n + ".ln1", x)
                let h = add(x, attention(p, n + ".attn", queries: xn, keys: xn, B: B, pad: pad))
                x = mask(add(h, ffn(p, n + ".ffn", layerNorm(p, n + ".ln2", h))), pad)
            case .postLN:
                let h = layerNorm(p, n + ".ln1", add(x, attention(p, n + ".attn", queries: x, keys: x, B: B, pad: pad)))
                x = mask(layerNorm(p, n + ".ln2", add(h, ffn(p, n + ".ffn", h))), pad)
            }
        }
        if c.layout != .postLN { x = layerNorm(p, "final_norm", x) }
        return seqs.indices.map { b in x[b * L + (seqs[b].lastIndex { $0 != 0 } ?? (L - 1))] }
    }
}

@Suite struct SASRecTests {
    /// (layout, heads, attention output projection: nil = the layout's default).
    static let cases: [(SASRec.Layout, Int, Bool?)] = [
        (.original, 1, nil), (.preLN, 2, nil), (.postLN, 1, nil), (.original, 2, nil), (.original, 2, true),
        (.preLN, 1, false),
    ]

    @Test(arguments: cases)
    func gradientsMatchFiniteDifferences(layout: SASRec.Layout, heads: Int, projection: Bool?) throws {
        var c = SASRec.Config(items: 5)
        c.length = 4
        c.dim = 4
        c.heads = heads
        c.blocks = 2
        c.dropout = 0
        c.layout = layout
        c.attentionOutputProjection = projection
        #expect(
            SASRec(config: c, seed: 1).parameters.contains { $0.name.hasSuffix("attn.out.weight") }
                == (projection ?? (layout != .original)))
        let model = SASRec(config: c, seed: 3)
        // Right padding, left padding, a length-1 sequence and an all-padding row.
        let seqs = [[3, 1, 0, 0], [0, 0, 2, 5], [4, 0, 0, 0], [0, 0, 0, 0], [1, 2, 3, 4]]
        let R = randomDoubles(seqs.count * c.dim, seed: 9)
        model.zeroGrad()
        let (states, cache) = try model.forward(seqs, training: false)
        model.backward(cache, Matrix(rows: seqs.count, cols: c.dim, elements: R.map(Float.init)))
        var p = [String: [Double]]()
        for q in model.parameters { p[q.name] = q.value.storage.map(Double.init) }
        let naive = NaiveSASRec(c: c)
        func loss(_ pp: [String: [Double]]) -> Double {
            let st = naive.states(pp, seqs)
            var total = 0.0
            for b in st.indices { for j in 0..<c.dim { total += st[b][j] * R[b * c.dim + j] } }
            return total
        }
        // Forward agrees.
        let mine = zip(states.storage, R).reduce(0.0) { $0 + Double($1.0) * $1.1 }
        #expect(abs(mine - loss(p)) < 1e-4 * max(1, abs(mine)))
        // Every parameter's gradient.
        for q in model.parameters {
            var pp = p
            var worst = 0.0
            var scale = 1e-3
            for i in 0..<q.value.count {
                let orig = p[q.name]![i]
                pp[q.name]![i] = orig + 1e-6
                let a = loss(pp)
                pp[q.name]![i] = orig - 1e-6
                let b = loss(pp)
                pp[q.name]![i] = orig
                let numeric = (a - b) / 2e-6
                scale = max(scale, abs(numeric))
                worst = max(worst, abs(numeric - Double(q.grad.storage[i])))
            }
            #expect(worst <= 3e-3 * scale, "\(layout) heads=\(heads) \(q.name): max error \(worst), scale \(scale)")
        }
        // The padding row of the item table gets no gradient.
        #expect(Array(model.itemEmbedding.table.grad.row(0)).allSatisfy { $0 == 0 })
    }

    @Test func causalAndOutOfRange() throws {
        var c = SASRec.Config(items: 9)
        c.length = 5
        c.dim = 8
        c.heads = 2
        c.dropout = 0
        let model = SASRec(config: c, seed: 1)
        // Changing a later item never changes an earlier state: compare states read at position 2
        // (sequences right-padded after position 2).
        let (a, _) = try model.forward([[1, 2, 3, 0, 0]], training: false)
        let (b, _) = try model.forward([[1, 2, 3, 0, 0]], training: false)
        #expect(a == b)
        let (x, _) = try model.forward([[1, 2, 3, 4, 5]], training: false)
        let (y, _) = try model.forward([[1, 2, 3, 4, 9]], training: false)
        #expect(x != y)
        #expect(throws: RecNNError.itemOutOfRange(id: 10, position: 7, vocabulary: 10)) {
            try model.forward([[1, 2, 3, 4, 5], [1, 0, 10, 0, 0]], training: false)
        }
        // Dropout is seeded: the same seed gives the same training-mode states.
        var cd = c
        cd.dropout = 0.3
        let m2 = SASRec(config: cd, seed: 2)
        #expect(
            try m2.forward([[1, 2, 3, 4, 5]], training: true, seed: 5).states
                == (try m2.forward([[1, 2, 3, 4, 5]], training: true, seed: 5).states))
    }
}
