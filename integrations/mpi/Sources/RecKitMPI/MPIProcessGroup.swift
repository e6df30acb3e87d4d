import CMPI
import Foundation
import RecKit

/// RecKit's `ProcessGroup` over MPI_COMM_WORLD: `mpirun -np R` processes, each a rank.
///
/// Sums use MPI_Allreduce (every rank gets the same bits: with two ranks a + b = b + a; OpenMPI's
/// algorithms for more ranks broadcast one reduction order); gathers use MPI_Allgatherv. Buffers
/// larger than 2³⁰ elements go in pieces (MPI counts are 32-bit).
public final class MPIProcessGroup: ProcessGroup {
    public let rank: Int
    public let size: Int
    /// Ranks on this machine (OpenMPI's OMPI_COMM_WORLD_LOCAL_SIZE; 1 when unknown).
    public let localSize: Int
    static let piece = 1 << 30

    /// Initialises MPI (once per process).
    public init() throws(RecRLError) {
        var provided: Int32 = 0
        guard MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided) == reckit_mpi_success() else {
            throw .invalidParameter("MPI_Init failed (run under mpirun)")
        }
        var r: Int32 = 0
        var s: Int32 = 0
        MPI_Comm_rank(reckit_mpi_comm_world(), &r)
        MPI_Comm_size(reckit_mpi_comm_world(), &s)
        rank = Int(r)
        size = Int(s)
        localSize = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
    }

    func check(_ code: Int32, _ what: String) throws(RecRLError) {
        guard code == reckit_mpi_success() else { throw .model("rank \(rank): \(what) failed with MPI error \(code)") }
    }

    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws(RecRLError) {
        try reduce(values.baseAddress, values.count, reckit_mpi_float(), stride: 4)
    }

    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws(RecRLError) {
        try reduce(values.baseAddress, values.count, reckit_mpi_double(), stride: 8)
    }

    private func reduce(_ base: UnsafeMutableRawPointer?, _ count: Int, _ type: MPI_Datatype, stride: Int)
        throws(RecRLError)
    {
        guard let base, count > 0 else { return }
        var start = 0
        while start < count {
            let n = min(Self.piece, count - start)
            try check(
                MPI_Allreduce(
                    reckit_mpi_in_place(), base + start * stride, Int32(n), type, reckit_mpi_sum(),
                    reckit_mpi_comm_world()),
                "MPI_Allreduce")
            start += n
        }
    }

    public func allGather(_ values: [Int32]) throws(RecRLError) -> [[Int32]] {
        try gather(values, reckit_mpi_int())
    }

    public func allGather(_ values: [Float]) throws(RecRLError) -> [[Float]] {
        try gather(values, reckit_mpi_float())
    }

    private func gather<T: Numeric>(_ values: [T], _ type: MPI_Datatype) throws(RecRLError) -> [[T]] {
        guard values.count < Self.piece else {
            throw .invalidParameter("rank \(rank): \(values.count) values to gather, more than 2^30")
        }
        var mine = Int32(values.count)
        var counts = [Int32](repeating: 0, count: size)
        try check(
            MPI_Allgather(&mine, 1, reckit_mpi_int(), &counts, 1, reckit_mpi_int(), reckit_mpi_comm_world()),
            "MPI_Allgather")
        var offsets = [Int32](repeating: 0, count: size)
        var total = 0
        for r in 0..<size {
            offsets[r] = Int32(total)
            total += Int(counts[r])
        }
        guard total < Self.piece else {
            throw .invalidParameter("rank \(rank): \(total) values to gather, more than 2^30")
        }
        var all = [T](repeating: 0, count: total)
        var send = values
        let code = send.withUnsafeMutableBufferPointer { s in
            all.withUnsafeMutableBufferPointer { a in
                MPI_Allgatherv(
                    s.baseAddress, mine, type, a.baseAddress, &counts, &offsets, type, reckit_mpi_comm_world())
            }
        }
        try check(code, "MPI_Allgatherv")
        return (0..<size).map { r in Array(all[Int(offsets[r])..<(Int(offsets[r]) + Int(counts[r]))]) }
    }

    /// Waits for every rank.
    public func barrier() throws(RecRLError) { try check(MPI_Barrier(reckit_mpi_comm_world()), "MPI_Barrier") }

    /// Stops every rank of the job with `code` (MPI_Abort); does not return.
    public func abort(_ code: Int32) -> Never {
        MPI_Abort(reckit_mpi_comm_world(), code)
        exit(code)
    }

    /// Ends MPI in this process (call once, after the last collective).
    public func finalize() { MPI_Finalize() }
}
