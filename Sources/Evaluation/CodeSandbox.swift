import Foundation

/// The bubblewrap (`bwrap`) sandbox ``CodeExecution`` runs model-written programs in.
///
/// Each program runs with:
/// - **no network**: a new, empty network namespace (`--unshare-net`; only a down loopback);
/// - **a read-only system**: `/` bound read-only (`--ro-bind / /`), a fresh `/dev` and `/proc`;
/// - **a private temporary home**: `/tmp` is an empty tmpfs, the program's directory is bound
///   writable at ``workingDirectory`` inside it and is its working directory and `HOME`;
/// - **no other processes in view**: a new PID namespace (`--unshare-pid`), a new session, no
///   capabilities (`--cap-drop ALL`), killed with its parent (`--die-with-parent`);
/// - **limits** set with `prlimit` before Python starts: CPU seconds, address space, size of
///   written files, number of processes.
///
/// The process limit (`RLIMIT_NPROC`) counts every process of the real user and does not bind
/// root, so when specdistill runs as root the sandbox is entered as `nobody` (uid 65534) through
/// `setpriv`; without `setpriv` the PID namespace and the time limit still end a fork bomb.
public struct CodeSandbox: Sendable, Equatable {
    /// The `bwrap` executable.
    public var bwrap: String
    /// `setpriv`, when the sandbox drops root to ``unprivilegedID`` first (nil otherwise).
    public var setpriv: String?
    /// The `prlimit` executable (util-linux), run inside the sandbox.
    public var prlimit: String
    /// The user and group id of `nobody`, used when running as root.
    public static let unprivilegedID = 65534
    /// Where the program's directory appears inside the sandbox.
    public static let workingDirectory = "/tmp/code"

    public init(bwrap: String, setpriv: String?, prlimit: String) {
        self.bwrap = bwrap; self.setpriv = setpriv; self.prlimit = prlimit
    }

    /// Locates `bwrap`, `prlimit` and (as root) `setpriv`, then checks with a probe run that
    /// bubblewrap can create its namespaces here.
    /// - Throws: ``EvaluationError/settings(_:)`` when `bwrap` is missing (naming
    ///   `apt-get install bubblewrap` and `--unsafe-run-code`), or when the probe fails (typically
    ///   a container without user namespaces), with bwrap's own message.
    /// - Parameter find: looks an executable up by name (tests pass one that finds no `bwrap`).
    public static func detect(find: (String) -> String? = CodeSandbox.executable) throws -> CodeSandbox {
        guard let bwrap = find("bwrap") else {
            throw EvaluationError.settings("running model-written code needs the bubblewrap sandbox, and bwrap is not installed; "
                + "install it (apt-get install bubblewrap) or, on a machine where running untrusted code unsandboxed "
                + "is acceptable, pass --unsafe-run-code instead of --run-code")
        }
        guard let prlimit = find("prlimit") else {
            throw EvaluationError.settings("the code sandbox sets its limits with prlimit, which is not installed; "
                + "install util-linux (apt-get install util-linux) or pass --unsafe-run-code")
        }
        let root = geteuid() == 0
        let sandbox = CodeSandbox(bwrap: bwrap, setpriv: root ? find("setpriv") : nil, prlimit: prlimit)
        try sandbox.probe()
        return sandbox
    }

    /// Runs `true` in the sandbox (same namespaces and user as a real program).
    /// - Throws: ``EvaluationError/settings(_:)`` with bwrap's message when that fails.
    public func probe() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("specdistill-probe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o777])
        defer { try? FileManager.default.removeItem(at: dir) }
        let process = Process()
        let args = arguments(directory: dir, command: ["/bin/true"])
        process.executableURL = URL(fileURLWithPath: args[0])
        process.arguments = Array(args.dropFirst())
        let errors = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        do { try process.run() } catch {
            throw EvaluationError.settings("cannot start \(args[0]) (\(error)); reinstall bubblewrap (apt-get install bubblewrap) or pass --unsafe-run-code")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw EvaluationError.settings("bubblewrap is installed but cannot create its sandbox here (probe `bwrap --ro-bind / / "
                + "--unshare-net --unshare-pid … true` failed: \(message.trimmingCharacters(in: .whitespacesAndNewlines))). "
                + "This usually means a container without user namespaces: run the container with user namespaces enabled "
                + "(e.g. docker run --security-opt seccomp=unconfined, or sysctl kernel.unprivileged_userns_clone=1), "
                + "or pass --unsafe-run-code where running untrusted code unsandboxed is acceptable")
        }
    }

    /// The command line that runs `command` (inside the sandbox, in ``workingDirectory``) with
    /// `directory` bound writable there: `[setpriv …] bwrap … prlimit … -- command`.
    /// - Parameter limits: prlimit options, e.g. `["--cpu=11", "--as=2147483648"]`.
    public func arguments(directory: URL, limits: [String] = [], command: [String]) -> [String] {
        var out: [String] = []
        if let setpriv {
            let id = String(Self.unprivilegedID)
            out += [setpriv, "--reuid=\(id)", "--regid=\(id)", "--clear-groups"]
        }
        out += [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                "--bind", directory.path, Self.workingDirectory, "--chdir", Self.workingDirectory,
                "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session",
                "--cap-drop", "ALL", "--clearenv",
                "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", Self.workingDirectory,
                "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONHASHSEED", "0"]
        out += [prlimit] + limits + ["--"] + command
        return out
    }

    /// The first executable `name` in /usr/bin, /bin, /usr/local/bin, /usr/sbin or PATH.
    public static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = ["/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin", "/sbin"] + path.split(separator: ":").map(String.init)
        return dirs.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
