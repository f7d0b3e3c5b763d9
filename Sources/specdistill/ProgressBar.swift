import Foundation

/// A one-line progress bar on standard error: redrawn in place on a terminal, printed as
/// occasional plain lines when stderr is a file or pipe (CI logs).
final class ProgressBar {
    let total: Int
    let label: String
    private let start = Date()
    private let interactive = isatty(2) != 0
    /// Off on the ranks other than 0 of a data-parallel job.
    private let enabled = Job.printsProgress
    private var lastPrinted = Date.distantPast
    private var lastLine = ""
    /// Items already done when this run started (a resumed job): the ETA uses this run's rate.
    private var resumedAt = 0

    init(total: Int, label: String) {
        self.total = max(total, 1)
        self.label = label
    }

    /// Marks `done` items as finished by an earlier run, so the ETA counts only this run's pace.
    func resume(at done: Int) { resumedAt = max(0, min(done, total)) }

    /// Updates the bar to `done` of `total` with extra fields (e.g. "loss 3.21").
    func update(_ done: Int, _ fields: String) {
        guard enabled else { return }
        let fraction = min(1, Double(done) / Double(total))
        let elapsed = Date().timeIntervalSince(start)
        let ranNow = Double(done - resumedAt), left = Double(max(total - done, 0))
        let eta = ranNow > 0 ? elapsed * left / ranNow : 0
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = "\(label) \(bar) \(done)/\(total) \(fields) | \(ProgressBar.clock(elapsed)) elapsed, ETA \(ProgressBar.clock(eta))"
        if interactive {
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
        } else if Date().timeIntervalSince(lastPrinted) > 10 || done == total {
            FileHandle.standardError.write(Data((line + "\n").utf8))
            lastPrinted = Date()
        }
        lastLine = line
    }

    /// Ends the bar's line.
    func finish() { if enabled && interactive { FileHandle.standardError.write(Data("\n".utf8)) } }

    /// Prints a message above the bar.
    func message(_ s: String) {
        guard enabled else { return }
        if interactive { FileHandle.standardError.write(Data(("\r\u{1B}[2K" + s + "\n" + lastLine).utf8)) }
        else { FileHandle.standardError.write(Data((s + "\n").utf8)) }
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
