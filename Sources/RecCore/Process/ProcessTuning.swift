internal import CBLAS

#if os(Linux)
    /// glibc's mallopt (malloc.h is not in the Glibc module map).
    @_silgen_name("mallopt") private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
#endif

/// Process-wide settings for executables. The library never calls these itself.
public enum ProcessTuning {
    /// Flushes standard output; true when any write to it failed (a full disk, a closed pipe).
    /// Command-line tools call it last, so that a lost result fails the run.
    public static func standardOutputFailed() -> Bool { reckit_stdout_failed() != 0 }

    /// Keeps freed memory in the process: no per-allocation mmap below 512 MB and no trimming
    /// below 1 GB (glibc). Training and scoring loops allocate activation matrices of the same
    /// sizes every step; without this each large allocation is a fresh mmap and its pages fault
    /// on first touch (measured: the SASRec encoder step went from 26 to 17 ms on one thread).
    /// No effect on other platforms.
    public static func keepFreedMemory() {
        #if os(Linux)
            _ = glibcMallopt(-3, 512 << 20)  // M_MMAP_THRESHOLD
            _ = glibcMallopt(-1, 1 << 30)  // M_TRIM_THRESHOLD
        #endif
    }
}
