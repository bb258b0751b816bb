# nxt-sandbox bootstrap: started as `python -S -c <this> <zygote source>`.
#
# Compiling a source leaves the parser's and compiler's freed memory resident (about
# 2.5 MB for the zygote's): pages whose tables every fork of the zygote would copy and
# every job's exit would tear down. So this compiles the zygote's source, writes the
# code to a .pyc file in the working directory (the pool's), and execs the interpreter
# on it, which loads the code without compiling and runs it as its main script: the
# zygote's frame is the first on the stack, as a -c source's is. The zygote removes the
# file. Any failure on the way runs the source here instead.


def _run_compiled():
    import os
    import sys

    source = sys.argv[1]
    path = None
    try:
        import marshal
        from _frozen_importlib_external import MAGIC_NUMBER

        code = compile(source, "<string>", "exec", dont_inherit=True)
        path = os.path.join(os.getcwd(), "zygote-%d.pyc" % os.getpid())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            data = MAGIC_NUMBER + bytes(12) + marshal.dumps(code)
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
        os.execv(sys.executable, [sys.executable, "-S", path])
    except Exception:
        if path is not None:
            try:
                os.unlink(path)
            except OSError:
                pass
    del sys.argv[1:]
    return compile(source, "<string>", "exec", dont_inherit=True)


exec(_run_compiled())
