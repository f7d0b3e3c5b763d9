import FuzzKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// The specdistill-fuzz executable owns fuzzing campaigns over FuzzKit's targets:
//
// specdistill-fuzz FORMAT [--count N] [--seed S] [--batch B] [--time-limit SEC] [--memory-limit MB]
//                  [--work DIR] [--crashes DIR]
//
// The parent writes the seeds once, then runs inputs in child processes (this executable
// re-run with --child), a batch per child. Each child limits its address space (setrlimit) and
// arms an alarm per input; it prints "start I" before and "done I accepted|error LEN" after each
// input. When a child dies, the input it had started is a crash (signal), a hang (SIGALRM) or
// over-memory (an allocation failure under the limit); the parent saves the input under
// CRASHES/FORMAT/ and continues after it with a new child.

struct Options {
    var format: FuzzFormat = .gguf
    var formats: [FuzzFormat] = []
    var count = 1000, seed: UInt64 = 1, batch = 250, timeLimit = 10, memoryMB = 3072
    var work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("specdistill-fuzz-\(getpid())")
    var crashes = URL(fileURLWithPath: "fuzz-crashes")
    var child: (first: Int, count: Int)? = nil
    var replay: URL? = nil
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("specdistill-fuzz: \(message)\n".utf8))
    exit(2)
}

func parse() -> Options {
    var o = Options()
    var args = Array(CommandLine.arguments.dropFirst())
    func value(_ flag: String) -> String {
        guard !args.isEmpty else { fail("\(flag) needs a value") }
        return args.removeFirst()
    }
    func int(_ flag: String) -> Int {
        let v = value(flag)
        guard let n = Int(v), n >= 0 else { fail("\(flag) needs a non-negative integer, got '\(v)'") }
        return n
    }
    while !args.isEmpty {
        let a = args.removeFirst()
        switch a {
        case "--count": o.count = int(a)
        case "--seed": o.seed = UInt64(int(a))
        case "--batch": o.batch = max(1, int(a))
        case "--time-limit": o.timeLimit = max(1, int(a))
        case "--memory-limit": o.memoryMB = max(256, int(a))
        case "--work": o.work = URL(fileURLWithPath: value(a))
        case "--crashes": o.crashes = URL(fileURLWithPath: value(a))
        case "--child": o.child = (int(a), int(a))
        case "--replay": o.replay = URL(fileURLWithPath: value(a))
        case "-h", "--help":
            print("usage: specdistill-fuzz FORMAT|all [--replay INPUT_DIR] [--count N] [--seed S] [--batch B] [--time-limit SEC] [--memory-limit MB] [--work DIR] [--crashes DIR]")
            print("formats: \(FuzzFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            exit(0)
        default:
            if a == "all" { o.formats = FuzzFormat.allCases }
            else if let f = FuzzFormat(rawValue: a) { o.formats.append(f) }
            else { fail("unknown format or option '\(a)'; formats: \(FuzzFormat.allCases.map(\.rawValue).joined(separator: ", ")), or all") }
        }
    }
    guard !o.formats.isEmpty else { fail("name a format: \(FuzzFormat.allCases.map(\.rawValue).joined(separator: ", ")), or all") }
    o.format = o.formats[0]
    return o
}

/// Child: runs inputs first..<first+count, one line per event on stdout.
func runChild(_ o: Options, first: Int, count: Int) -> Never {
    var limit = rlimit(rlim_cur: rlim_t(o.memoryMB) << 20, rlim_max: rlim_t(o.memoryMB) << 20)
    _ = setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
    let seeds = FuzzSeedIndex.read(o.work.appendingPathComponent("seeds"), o.format)
    let work = o.work.appendingPathComponent("child-\(getpid())")
    defer { try? FileManager.default.removeItem(at: work) }
    for i in first..<(first + count) {
        print("start \(i)"); fflush(nil)
        alarm(UInt32(o.timeLimit))
        let outcome = FuzzCampaign.runInProcess(o.format, seeds: seeds, seed: o.seed, first: i, count: 1, work: work)[0]
        alarm(0)
        switch outcome {
        case .accepted: print("done \(i) accepted")
        case .error(let n): print("done \(i) error \(n)")
        }
        fflush(nil)
    }
    try? FileManager.default.removeItem(at: work)
    exit(0)
}

struct Tally {
    var inputs = 0, errors = 0, accepted = 0, crashes = 0, hangs = 0, overMemory = 0, longMessages = 0, harness = 0
}

/// Parent: seeds, then batches of children; returns the tally.
func runParent(_ o: Options) throws -> Tally {
    let seedsDir = o.work.appendingPathComponent("seeds")
    let seeds = try FuzzSeedIndex.write(seedsDir, o.format)
    var tally = Tally()
    var next = 0
    let me = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    let exe = FileManager.default.isExecutableFile(atPath: me.path) ? me : URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    while next < o.count {
        let n = min(o.batch, o.count - next)
        let p = Process()
        p.executableURL = exe
        p.arguments = [o.format.rawValue, "--child", "\(next)", "\(n)", "--seed", "\(o.seed)", "--time-limit", "\(o.timeLimit)",
                       "--memory-limit", "\(o.memoryMB)", "--work", o.work.path]
        let outURL = o.work.appendingPathComponent("child.out"), errURL = o.work.appendingPathComponent("child.err")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: outURL)
        p.standardError = try FileHandle(forWritingTo: errURL)
        try p.run()
        p.waitUntilExit()
        let lines = (try? String(contentsOf: outURL, encoding: .utf8))?.split(separator: "\n") ?? []
        var started: Int? = nil
        for line in lines {
            let f = line.split(separator: " ")
            if f.first == "start", f.count == 2 { started = Int(f[1]) }
            if f.first == "done", f.count >= 3 {
                started = nil
                tally.inputs += 1
                if f[2] == "accepted" { tally.accepted += 1 } else {
                    let len = f.count > 3 ? Int(f[3]) ?? 0 : 0
                    if len < 0 { tally.harness += 1 } else if len > FuzzCampaign.maxMessageLength { tally.longMessages += 1; save(o, seeds, index: Int(f[1])!, kind: "long-message") } else { tally.errors += 1 }
                }
                next = Int(f[1])! + 1
            }
        }
        if p.terminationReason == .uncaughtSignal || p.terminationStatus != 0 {
            guard let i = started else { fail("a child exited with status \(p.terminationStatus) outside an input; see \(errURL.path)") }
            let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
            let kind: String
            if p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGALRM { kind = "hang"; tally.hangs += 1 }
            else if stderr.contains("failed to allocate") || stderr.contains("could not allocate") { kind = "over-memory"; tally.overMemory += 1 }
            else { kind = "crash"; tally.crashes += 1 }
            tally.inputs += 1
            save(o, seeds, index: i, kind: kind, log: String(stderr.prefix(4000)))
            next = i + 1
        }
        FileHandle.standardError.write(Data("\r\(o.format.rawValue): \(tally.inputs)/\(o.count)".utf8))
    }
    FileHandle.standardError.write(Data("\n".utf8))
    return tally
}

/// Saves input `index` (re-created from the seeds; the same bytes the child ran) under CRASHES/FORMAT/.
func save(_ o: Options, _ seeds: [FuzzSeed], index: Int, kind: String, log: String = "") {
    let dir = o.crashes.appendingPathComponent(o.format.rawValue).appendingPathComponent("\(kind)-seed\(o.seed)-\(index)")
    let fm = FileManager.default
    try? fm.removeItem(at: dir)
    do {
        let input = try FuzzCampaign.makeInput(o.format, seeds: seeds, seed: o.seed, index: index, work: o.work.appendingPathComponent("save"))
        try fm.createDirectory(at: dir.deletingLastPathComponent(), withIntermediateDirectories: true)
        try fm.moveItem(at: input.dir, to: dir)
        try Data("\(kind) at input \(index) (seed \(o.seed)): replay with FuzzTarget on this directory\n\(log)".utf8)
            .write(to: dir.appendingPathComponent("FUZZ-README.txt"))
    } catch {
        FileHandle.standardError.write(Data("could not save input \(index): \(error)\n".utf8))
    }
}

var options = parse()
if let c = options.child { runChild(options, first: c.first, count: c.count) }
if let dir = options.replay {
    let message = FuzzTarget.report(options.format, input: dir)
    print(message.count > 2000 ? "\(message.prefix(2000))… (\(message.count) characters)" : message)
    exit(0)
}
print("| format | inputs | clean errors | accepted | crashes | hangs | over memory | long messages | seed | wall time |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
var failed = false
for f in options.formats {
    options.format = f
    let start = Date()
    do {
        let t = try runParent(options)
        let secs = Date().timeIntervalSince(start)
        print("| \(f.rawValue) | \(t.inputs) | \(t.errors) | \(t.accepted) | \(t.crashes) | \(t.hangs) | \(t.overMemory) | \(t.longMessages) | \(options.seed) | \(String(format: "%.0f s", secs)) |")
        fflush(nil)
        if t.crashes + t.hangs + t.overMemory + t.longMessages + t.harness > 0 { failed = true }
    } catch {
        fail("\(f.rawValue): could not write the seeds: \(error)")
    }
}
try? FileManager.default.removeItem(at: options.work)
exit(failed ? 1 : 0)
