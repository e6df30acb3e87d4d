// Top-k over a random catalog, as an app that depends on RecKit would run it; then what RecKit
// chose for this build and host, checked against a plain loop.
//
//     scorer-app [items] [dim] [reps]      (defaults 100000 64 20)
import RecCore

#if canImport(Glibc)
    import Glibc
#endif

// OpenBLAS picks its kernels when it loads, before this line: on a CPU it does not know it runs
// generic ones, and this starts the app again once with the right OPENBLAS_CORETYPE (as `reckit`
// does; RECKIT_BLAS_CORE=keep opts out).
BLASHealth.reexecIfNeeded(tool: "scorer-app")

let args = CommandLine.arguments.dropFirst().map { Int($0) }
guard args.allSatisfy({ $0 != nil && $0! > 0 }) else {
    print("usage: scorer-app [items] [dim] [reps]  (positive integers)")
    exit(2)
}
let n = args.count > 0 ? args[0]! : 100_000
let d = args.count > 1 ? args[1]! : 64
let reps = args.count > 2 ? args[2]! : 20
let k = 10

let items = Matrix.random(n, d, seed: 1)
let scorer = CatalogScorer(items: items)

func medianMs(_ body: () throws -> Void) rethrows -> Double {
    var times = [Double]()
    for _ in 0...reps {
        let t = ContinuousClock.now
        try body()
        let e = ContinuousClock.now - t
        times.append(Double(e.components.seconds) * 1e3 + Double(e.components.attoseconds) / 1e15)
    }
    times.removeFirst()
    return times.sorted()[times.count / 2]
}

var failures = 0
for batch in [256, 1] {
    let states = Matrix.random(batch, d, seed: 2)
    var result: TopKResult? = nil
    let ms = try medianMs { result = try scorer.topK(states: states, k: k) }
    // A plain loop over the catalog, in Double: the returned items must be its top k (up to
    // ties closer than Float's rounding), best first.
    for r in 0..<min(batch, 8) {
        var exact = [(Double, Int32)]()
        for i in 0..<n {
            var s = 0.0
            for c in 0..<d { s += Double(states[r, c]) * Double(items[i, c]) }
            exact.append((s, Int32(i)))
        }
        exact.sort { $0.0 > $1.0 }
        let kth = exact[k - 1].0
        for (rank, item) in result!.items(row: r).enumerated() {
            let s = exact.first { $0.1 == item }!.0
            if s < kth - 1e-4 * max(1, abs(kth)) || (rank > 0 && s > exact[rank - 1].0 + 1e-4 * max(1, abs(s))) {
                print("state \(r): item \(item) at rank \(rank) has score \(s); the plain loop's k-th is \(kth)")
                failures += 1
            }
        }
    }
    print("top-\(k) of \(n) items (d=\(d)), \(batch) state\(batch == 1 ? "" : "s"): \(cFormat("%.3f", ms)) ms")
}
print("kernel: \(scorer.kernel)")
print("build: compiled for \(BuildTarget.compiled); host has \(BuildTarget.host)")
print("advice: \(BuildTarget.advice ?? "none")")
print("blas: \(BLASHealth.coreDescription)")
if failures > 0 {
    print("scorer-app: \(failures) results differ from the plain loop")
    exit(1)
}
