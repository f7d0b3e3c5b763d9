# Sourced by Scripts/test. Incremental release builds of this package have crashed after a type
# gained or lost a stored property (heap corruption or a bad pointer in code of another module
# that was not recompiled; sessions 16–22 hit it, a clean build always fixed it). This removes the
# release build directories when the declarations of type members (`let` / `var` at one level of
# indentation under Sources/) changed since the last run, so the next build starts clean; other
# edits keep the fast incremental build.
remove_stale_release_builds() {
  local stamp=.build/.member-declarations.sha256 now
  now=$(grep -rhE '^    ((public|private|internal|fileprivate|open|final|static|lazy|weak|unowned|nonisolated\(unsafe\)|public private\(set\)|public internal\(set\)|private\(set\)|internal\(set\)) )*(let|var) ' \
          Sources --include='*.swift' | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" != "$now" ]; then
    echo "Scripts/test: type members changed since the last build; removing the release build directories (a clean build, see Scripts/lib/stale-builds.sh)" >&2
    rm -rf .build/tests/*/release .build/*/release
  fi
  mkdir -p .build && echo "$now" > "$stamp"
}
