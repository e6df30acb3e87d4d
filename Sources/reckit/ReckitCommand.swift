import ArgumentParser
import Foundation
import RecKit

@main
struct Reckit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reckit",
        abstract: "RecKit: fast catalog scoring, offline RL for sequential recommenders, offline A/B tests of ranking policies.",
        subcommands: [Demo.self, Score.self, Marginals.self, OfflineAB.self, Simulate.self, Train.self, Evaluate.self, RLStudy.self],
        defaultSubcommand: nil)

    static func main() {
        ProcessTuning.keepFreedMemory()
        Self.main(nil)
        requireStandardOutputWritten()
    }

    /// Results go to standard output; a write that failed there (a full disk, a closed pipe)
    /// must fail the run, not end it with status 0 and a truncated result.
    static func requireStandardOutputWritten() {
        errno = 0
        if ProcessTuning.standardOutputFailed() {
            let reason = errno != 0 ? String(cString: strerror(errno)) : "write error"
            FileHandle.standardError.write(Data("reckit: error: cannot write the results to standard output (\(reason))\n".utf8))
            Foundation.exit(1)
        }
    }
}

/// Options for the threading knob, shared by commands.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads for RecKit and OpenBLAS (default: RECKIT_THREADS or all cores).")
    var threads: Int?

    func apply() throws {
        if let t = threads {
            guard t >= 1 else { throw ValidationError("--threads must be at least 1, got \(t)") }
            Threading.setCount(t)
        } else {
            Threading.setCount(Threading.count)
        }
    }
}

func stderrLine(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

func elapsedMs(_ body: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
}

/// Converts library errors into a clean message and a non-zero exit, never a crash.
func runReporting(_ body: () throws -> Void) throws {
    do { try body() } catch let e as RecIOError {
        stderrLine("reckit: error: \(e)")
        throw ExitCode(1)
    } catch let e as RecCoreError {
        stderrLine("reckit: error: \(e)")
        throw ExitCode(1)
    } catch let e as RecOPEError {
        stderrLine("reckit: error: \(e)")
        throw ExitCode(1)
    }
}
