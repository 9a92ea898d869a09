# Shared by the sandbox shims (sourced). The sandbox's sshd_config sets ERSEN_SANDBOX with SetEnv.
: "${ERSEN_SANDBOX:?ERSEN_SANDBOX is not set: run this through the sandbox host's sshd}"
STATE="$ERSEN_SANDBOX/state"
[ -f "$ERSEN_SANDBOX/config.sh" ] && . "$ERSEN_SANDBOX/config.sh"

# record NAME ARGS...: one line per call in shim.log, tab-separated (the tests read it).
record() {
    {
        printf '%s' "$1"
        shift
        for arg in "$@"; do printf '\t%s' "$arg"; done
        printf '\n'
    } >> "$ERSEN_SANDBOX/shim.log"
}

# Test hook, inlined at the top level of each shim (so "$1" is the shim's own first argument):
# a test (or you) can make a shim misbehave by writing $ERSEN_SANDBOX/behaviour/NAME, e.g.
# "echo boom >&2; exit 3" or "echo $$ > $ERSEN_SANDBOX/pids/docker; exec sleep 600".
