# hung.py - where each thread of a hung test waits, for the harness.
#
# The harness runs it in gdb, attached to a test's process that is past its
# deadline (harness.c, hang_report):
#   gdb -p PID -batch -nx -q -x tests/harness/hung.py
# It prints, for each thread that is inside the learner's code (the
# directory in HARNESS_IMPL) or a lesson's tests, the innermost such line
# and what the thread is blocked on there; then every mutex that is held by
# a thread which has left the function that locked it: a lock leaked on a
# return path. Mutex owners come from the harness's wrapped
# pthread_mutex_lock (interpose.c, harness_locks). Short on purpose: it is
# read in a few seconds, under a failed test.
import os
import re
import struct

import gdb

IMPL = os.environ.get("HARNESS_IMPL", "exercises").rstrip("/") + "/"


def graded_code():
    """Whose code is graded, in the report's words, in full and short: the
    learner's only for IMPL=exercises; make broken and make mutants grade
    a planted copy of the reference (build/mutants/BUG)."""
    impl = IMPL.rstrip("/")
    if impl == "exercises":
        return "your code", "your code"
    if impl == "solutions":
        return "the reference", "the reference"
    if impl.startswith("build/mutants/"):
        bug = impl[len("build/mutants/"):]
        return "the reference with %s planted (%s)" % (bug, impl), "the planted reference"
    return "the code in %s" % impl, "the code in %s" % impl

# What a thread is doing when its stack holds one of these calls. The
# harness's wrappers first (interpose.c: the mutex's address is in their
# frame); the C library's calls are matched by name without the
# underscores, "__GI_", "__libc_" or "@GLIBC..." the library adds. The
# outermost match is the one reported: a pthread_join waits in a futex,
# and "waits for a thread to end" says more than "waits on a futex".
BLOCKING = {
    "__wrap_pthread_mutex_lock": "waits for the mutex",
    "__wrap_pthread_cond_wait": "waits on the condition variable",
    "__wrap_pthread_cond_timedwait": "waits (with a deadline) on the condition variable",
    "__wrap_pthread_join": "waits for a thread to end (pthread_join)",
    "pthread_join": "waits for a thread to end (pthread_join)",
    "pthread_clockjoin_ex": "waits for a thread to end (pthread_join)",
    "pthread_mutex_lock": "waits for a mutex",
    "pthread_cond_wait": "waits on a condition variable",
    "pthread_cond_timedwait": "waits (with a deadline) on a condition variable",
    "pthread_cond_clockwait": "waits (with a deadline) on a condition variable",
    "pthread_rwlock_rdlock": "waits for a read-write lock",
    "pthread_rwlock_wrlock": "waits for a read-write lock",
    "pthread_barrier_wait": "waits at a barrier",
    "sem_wait": "waits on a semaphore",
    "sem_timedwait": "waits (with a deadline) on a semaphore",
    "sigwait": "waits for a signal (sigwait)",
    "sigwaitinfo": "waits for a signal (sigwaitinfo)",
    "sigtimedwait": "waits for a signal (sigtimedwait)",
    "sigsuspend": "waits for a signal (sigsuspend)",
    "pause": "waits for a signal (pause)",
    "nanosleep": "sleeps",
    "clock_nanosleep": "sleeps",
    "poll": "waits in poll",
    "ppoll": "waits in poll",
    "select": "waits in select",
    "pselect": "waits in select",
    "epoll_wait": "waits in epoll_wait",
    "accept": "waits in accept",
    "accept4": "waits in accept",
    "connect": "waits in connect",
    "read": "waits in read",
    "recv": "waits in recv",
    "recvfrom": "waits in recv",
    "write": "waits in write (the reader is not reading)",
    "send": "waits in send (the reader is not reading)",
    "waitpid": "waits for a child process",
    "futex_wait": "waits on a futex (a lock or a condition variable)",
    "futex_abstimed_wait_common": "waits on a futex (a lock or a condition variable)",
    "futex_abstimed_wait_common64": "waits on a futex (a lock or a condition variable)",
    "lll_lock_wait": "waits for a lock inside the C library",
}


def call_name(name):
    """A frame's function as BLOCKING names it."""
    if name.startswith("__wrap_"):
        return name
    name = name.split("@")[0]
    for prefix in ("__GI_", "__libc_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    name = name.lstrip("_")
    if name.startswith("libc_"):
        name = name[len("libc_"):]
    return name


TABLE_SIZE = 8192


def ours(filename):
    """A file the learner wrote, or a lesson's test file."""
    if filename is None:
        return False
    name = os.path.normpath(filename)
    rel = os.path.relpath(name) if os.path.isabs(name) else name
    impl = os.path.normpath(IMPL)
    impl_rel = os.path.relpath(impl) if os.path.isabs(impl) else impl
    if rel.startswith(impl_rel + "/"):
        return True
    return rel.startswith("tests/") and not rel.startswith("tests/harness/")


def short(filename):
    return os.path.basename(filename)


def source_line(filename, line):
    try:
        with open(filename) as f:
            lines = f.readlines()
        return lines[line - 1].strip()
    except (OSError, IndexError):
        return ""


def frames(thread):
    thread.switch()
    f = gdb.newest_frame()
    while f is not None:
        yield f
        f = f.older()


def frame_file(f):
    sal = f.find_sal()
    if sal.symtab is None:
        return None, 0
    return sal.symtab.filename, sal.line


def local(f, name):
    try:
        return int(f.read_var(name))
    except (gdb.error, ValueError, RuntimeError):
        return None


def describe(thread):
    """Our innermost frame (file, line, function), what it is blocked on and
    its address, and our next frame out (the caller, or None)."""
    blocked, addr, where, test = None, None, None, None
    for f in frames(thread):
        what = BLOCKING.get(call_name(f.name() or ""))
        if what is not None and where is None:  # outermost below our code
            blocked = what
            addr = local(f, "blocked_on_mutex") or local(f, "blocked_on_cond")
        name = f.name() or ""
        filename, line = frame_file(f)
        if not ours(filename):
            continue
        if where is None:
            where = (filename, line, name)
        elif test is None:
            test = (filename, line, name)
        if filename.startswith("tests/"):
            break
    return where, blocked, addr, test


def held_locks():
    """[(mutex address, owner thread id, where it was taken)] from harness_locks."""
    try:
        table = gdb.parse_and_eval("harness_locks")
    except gdb.error:
        return []
    size = table.type.target().sizeof
    raw = gdb.selected_inferior().read_memory(int(table.address), size * TABLE_SIZE).tobytes()
    held = []
    for i in range(TABLE_SIZE):
        mutex, owner, where = struct.unpack_from("QqQ", raw, i * size)
        if mutex and owner:
            held.append((mutex, owner, where))
    return held


def function_at(pc):
    try:
        block = gdb.block_for_pc(pc)
    except RuntimeError:
        return None
    while block is not None and block.function is None:
        block = block.superblock
    return block.function if block is not None else None


def leaking_returns(filename, lock_line, function_end):
    """Lines after the lock, in its function, that return with no unlock just before."""
    try:
        with open(filename) as f:
            lines = f.readlines()
    except OSError:
        return []
    found, previous, comment = [], "", False
    for n in range(lock_line, min(function_end, len(lines))):
        text = lines[n].strip()
        if comment or text.startswith("/*"):
            comment = "*/" not in text
            continue
        if re.match(r"return\b", text) and "unlock" not in previous:
            found.append((n + 1, text))
        if text and text not in ("{", "}"):
            previous = text
    return found


def function_end(filename, start):
    try:
        with open(filename) as f:
            lines = f.readlines()
    except OSError:
        return start
    for n in range(start, len(lines)):
        if lines[n].startswith("}"):
            return n + 1
    return len(lines)


def report():
    threads = sorted(gdb.selected_inferior().threads(), key=lambda t: t.num)
    by_tid = {t.ptid[1]: t for t in threads}
    held = held_locks()
    owner_of = {m: (o, w) for m, o, w in held}
    code, short_code = graded_code()
    out = ["where each thread waits (gdb; %s and the tests only):" % code]
    others = 0
    for t in threads:
        where, blocked, addr, test = describe(t)
        if where is None:
            others += 1
            continue
        filename, line, func = where
        text = source_line(filename, line)
        what = blocked or "runs (in none of the blocking calls the report knows)"
        if blocked == BLOCKING["__wrap_pthread_mutex_lock"] and addr in owner_of:
            owner = owner_of[addr][0]
            whose = "itself" if owner == t.ptid[1] else (
                "thread %d" % by_tid[owner].num if owner in by_tid else "a thread that has ended")
            what += ", held by " + whose
        out.append("  thread %d: %s:%d in %s: %s" % (t.num, short(filename), line, func, what))
        if text:
            out.append("      %s" % text)
        if test is not None:
            text = source_line(test[0], test[1])
            out.append("      called from %s:%d in %s: %s" % (short(test[0]), test[1], test[2], text))
    if others:
        out.append("  (%d more thread(s) outside %s)" % (others, short_code))
    for mutex, owner, ret in held:
        # ret is where pthread_mutex_lock returns to; the call is just before.
        func = function_at(ret - 1)
        sal = gdb.find_pc_line(ret - 1)
        if func is None or sal.symtab is None or not ours(sal.symtab.filename):
            continue
        thread = by_tid.get(owner)
        inside = thread is not None and any((f.name() or "") == func.name for f in frames(thread))
        if inside:
            continue
        filename = sal.symtab.filename
        who = "thread %d" % thread.num if thread is not None else "a thread that has ended"
        out.append("LOCK LEFT HELD: %s took it at %s:%d in %s and has since returned from %s "
                   "without unlocking it:" % (who, short(filename), sal.line, func.name, func.name))
        out.append("      %s" % source_line(filename, sal.line))
        for n, text in leaking_returns(filename, sal.line, function_end(filename, sal.line))[:3]:
            out.append("  a return with no unlock before it, %s:%d:  %s" % (short(filename), n, text))
    print("\n".join(out))


try:
    report()
except Exception as e:  # a report that fails must not hide the verdict
    print("where each thread waits: the report failed (%s)" % e)
