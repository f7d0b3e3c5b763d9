import ArgumentParser
import SpecDistill

/// Draft-length flags shared by `decode` and `eval` (llama.cpp's names: `--draft-max`,
/// `--draft-min`, `--draft-p-min`).
struct DraftOptions: ParsableArguments {
    @Option(name: .customLong("draft-max"), help: "Largest number of tokens drafted per round (gamma; ≤ 15).") var draftMax = 5
    @Option(name: .customLong("draft-min"), help: "Floor on the draft length for the confidence stop and the schedules.") var draftMin = 0
    @Option(name: .customLong("draft-p-min"),
            help: ArgumentHelp("Stop drafting when the draft's top probability falls below this (0 = off; at temperature 0 measured at T = 1), or auto.",
                               discussion: "auto: keep each drafted token while its calibrated acceptance pays for the row it adds to verification, measured on this machine, and draft on (up to --draft-max, whatever the schedule) while more tokens are expected to pay. It replaces auto-off: a first token that does not pay is dropped."))
    var draftPMin: DraftPMin = .threshold(0)
    @Option(name: .customLong("draft-schedule"), help: "constant (gamma = draft-max), heuristic (+2 / −1) or adaptive (maximise predicted speedup).")
    var draftSchedule: DraftSchedule = .constant

    var settings: DraftSettings {
        switch draftPMin {
        case .threshold(let p): return DraftSettings(draftMax: draftMax, draftMin: draftMin, draftPMin: p, schedule: draftSchedule)
        case .auto: return DraftSettings(draftMax: draftMax, draftMin: draftMin, draftPMinAuto: true, schedule: draftSchedule)
        }
    }

    func validate() throws {
        do { try settings.validate() } catch { throw ValidationError("\(error)") }
        if draftMax + 1 > InferenceSession.batchInvariantRows {
            throw ValidationError("--draft-max \(draftMax) would verify \(draftMax + 1) positions per call; the runtime keeps verification "
                                  + "bitwise equal to plain decoding up to \(InferenceSession.batchInvariantRows) (use --draft-max ≤ \(InferenceSession.batchInvariantRows - 1))")
        }
    }
}

/// `--draft-p-min`: a fixed threshold in [0, 1] or `auto` (the cost-aware stop, ``DraftStop``).
enum DraftPMin: ExpressibleByArgument, Equatable {
    case threshold(Double)
    case auto

    init?(argument: String) {
        if argument == "auto" { self = .auto; return }
        guard let p = Double(argument) else { return nil }
        self = .threshold(p)
    }

    var defaultValueDescription: String {
        switch self {
        case .threshold(let p): return "\(p)"
        case .auto: return "auto"
        }
    }
}
