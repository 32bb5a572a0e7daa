// The Python harness that runs assert-style tests inside the sandbox; kept as
// a string so the r1 binary needs no data files at run time.
#include "reward/code_harness.h"

namespace r1 {

const char* code_harness_source() {
  return R"PY(
# Runs inside the sandbox (python3 -I -S). Reads /sandbox/spec.marshal, runs
# the program, then each test separately with its own timer, and reports one
# record per test on fd 3 tagged with the secret read from fd 4 (closed before
# any untrusted code runs), so lines the program prints cannot pose as results.
# Records are lines of space-separated fields, free text hex-encoded:
#   <secret> plan <n>            <secret> name <i> <hex>
#   <secret> test <i> <status> <hex detail>
#   <secret> load_error <status> <hex detail>       <secret> done
# Only builtin modules at start-up (no json/re/ast/traceback unless needed):
# start-up time is most of a run.
import _signal
import marshal
import os


class _Timeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


def _hex(text):
    return text.encode("utf-8", "backslashreplace").hex()


def _detail(exc, limit):
    import traceback  # only when something failed
    # The innermost frame outside this harness says where the program failed.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    where = ""
    if frames:
        last = frames[-1]
        where = "%s:%s: %s\n" % (last.filename, last.lineno, (last.line or "").strip())
    if isinstance(exc, _Timeout):
        return (where + "test timed out")[-limit:]
    return (where + "".join(traceback.format_exception_only(type(exc), exc)))[-limit:]


def _safe_detail(exc, limit):
    try:
        return _detail(exc, limit)
    except BaseException:  # e.g. MemoryError again while formatting
        return type(exc).__name__


def _status(exc):
    if isinstance(exc, _Timeout):
        return "timeout"
    if isinstance(exc, MemoryError):
        return "memory_limit"
    if isinstance(exc, AssertionError):
        return "wrong_answer"
    return "runtime_error"


def _expand_check(setup, entry):
    # HumanEval: every statement of check()'s body that contains an assert
    # becomes one test; the others are steps later tests depend on.
    import ast
    try:
        tree = ast.parse(setup)
    except SyntaxError:
        return None
    fn = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    if len(fn) != 1 or len(fn[0].args.args) != 1:
        return None
    steps = []
    for stmt in fn[0].body:
        is_test = any(isinstance(n, ast.Assert) for n in ast.walk(stmt))
        try:
            code = compile(ast.Module(body=[stmt], type_ignores=[]), "<test>", "exec")
        except SyntaxError:
            return None
        text = ast.get_source_segment(setup, stmt) or ast.unparse(stmt)
        steps.append((is_test, text, code))
    if not any(s[0] for s in steps):
        return None
    return fn[0].args.args[0].arg, steps


def main():
    secret = os.read(4, 4096).decode()
    os.close(4)
    write = os.write

    def report(*fields):
        try:
            write(3, (" ".join([secret] + [str(f) for f in fields]) + "\n").encode())
        except OSError:
            pass

    with open("/sandbox/spec.marshal", "rb") as f:
        spec = marshal.loads(f.read())
    limit = spec["detail_bytes"]
    timeout = spec["test_timeout_s"]
    entry = spec["entry_point"]
    expanded = _expand_check(spec["setup"], entry) if entry else None
    if entry and expanded is None:
        expanded = ("candidate", [(True, "check(candidate)", compile("check(candidate)", "<test>", "exec"))])
    if expanded:
        param, steps = expanded
    else:
        param, steps = None, [(True, t, None) for t in spec["tests"]]
    names = [text for is_test, text, _ in steps if is_test]
    report("plan", len(names))
    for i, name in enumerate(names):
        report("name", i, _hex(name[:200]))
    _signal.signal(_signal.SIGALRM, _on_alarm)

    def timed(fn):
        _signal.setitimer(_signal.ITIMER_REAL, timeout)
        try:
            fn()
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)

    ns = {"__name__": "__solution__", "__builtins__": __builtins__}
    try:
        code = compile(spec["program"], "<solution>", "exec")
        timed(lambda: exec(code, ns))
        setup = compile(spec["setup"], "<setup>", "exec")
        timed(lambda: exec(setup, ns))
        if expanded:
            if entry not in ns:
                raise NameError("entry point '%s' is not defined" % entry)
            ns = dict(ns)
            ns[param] = ns[entry]
    except BaseException as e:
        report("load_error", _status(e), _hex(_safe_detail(e, limit)))
        return
    index, broken = 0, None
    for is_test, text, code in steps:
        if broken is not None and is_test:
            report("test", index, "runtime_error", _hex(broken))
            index += 1
            continue
        try:
            if code is None:
                code = compile(text, "<test>", "exec")
            timed(lambda: exec(code, ns))
            status, detail = "pass", ""
        except BaseException as e:
            status, detail = _status(e), _safe_detail(e, limit)
        if is_test:
            report("test", index, status, _hex(detail))
            index += 1
        elif status != "pass":
            broken = "an earlier step failed: " + detail
    report("done")


main()
)PY";
}

}  // namespace r1
