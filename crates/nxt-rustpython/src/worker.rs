//! The worker: the process an [`ExecPool`](nxt_sandbox::ExecPool) job executes. It
//! reads the job from stdin, starts RustPython, loads a harness and calls its `main`
//! as a CPython zygote's child would, then exits with the zygote's exit codes.

use std::io::Read;
use std::os::fd::AsRawFd;

use rustpython::InterpreterBuilderExt;
use rustpython::vm::AsObject as _;
use rustpython::vm::builtins::PyBaseExceptionRef;
use rustpython::vm::{Interpreter, InterpreterBuilder, PyResult, Settings, VirtualMachine};

use crate::Harness;

/// The stack of the thread the interpreter runs on: RustPython recurses on the
/// native stack for each Python call, and a program must reach the recursion limit
/// (a `RecursionError`) before the stack ends. At most a quarter of the job's
/// address space (its `RLIMIT_AS`), so that the stack's reservation fits.
const STACK_BYTES: usize = 512 << 20;

fn stack_bytes() -> usize {
    let mut lim = nix::libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct.
    let ok = unsafe { nix::libc::getrlimit(nix::libc::RLIMIT_AS, &mut lim) } == 0;
    if ok && lim.rlim_cur != nix::libc::RLIM_INFINITY {
        STACK_BYTES.min(usize::try_from(lim.rlim_cur / 4).unwrap_or(STACK_BYTES))
    } else {
        STACK_BYTES
    }
}

/// Runs one job and exits the process. `harness` says which harness's `main` gets
/// the payload. Never returns.
pub fn worker_main(harness: Harness) -> ! {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut input) {
        eprintln!("nxt rustpython worker: cannot read the job: {e}");
        exit(70);
    }
    // The program gets /dev/null as its stdin, as a zygote's job does.
    if let Ok(null) = std::fs::File::open("/dev/null") {
        // SAFETY: dup2 onto fd 0, which this process owns.
        unsafe { nix::libc::dup2(null.as_raw_fd(), 0) };
    }
    let (secret, payload) = match input.iter().position(|&b| b == b'\n') {
        Some(nl) => (
            String::from_utf8_lossy(&input[..nl]).into_owned(),
            input[nl + 1..].to_vec(),
        ),
        None => {
            eprintln!("nxt rustpython worker: no job on stdin");
            exit(70);
        }
    };
    drop(input);
    let runner = std::thread::Builder::new()
        .name("python".into())
        .stack_size(stack_bytes())
        .spawn(move || run(harness, payload, secret));
    let code = match runner.map(|t| t.join()) {
        Ok(Ok(code)) => code,
        _ => 70,
    };
    exit(code)
}

fn exit(code: i32) -> ! {
    // No destructors, no atexit: as the zygote's `os._exit`.
    // SAFETY: _exit ends the process at once.
    unsafe { nix::libc::_exit(code) }
}

fn interpreter() -> Interpreter {
    let mut settings = Settings::default();
    settings.hash_seed = Some(0);
    settings.import_site = false;
    settings.ignore_environment = true;
    settings.user_site_directory = false;
    settings.safe_path = true;
    settings.argv = vec![String::new()];
    InterpreterBuilder::new()
        .settings(settings)
        .init_stdlib()
        .interpreter()
}

fn run(harness: Harness, payload: Vec<u8>, secret: String) -> i32 {
    let interp = interpreter();
    interp.enter(|vm| {
        let result = call_main(vm, harness, payload, secret);
        let code = match result {
            Ok(()) => 0,
            Err(exc) => exit_code(vm, exc),
        };
        flush(vm);
        code
    })
}

fn call_main(
    vm: &VirtualMachine,
    harness: Harness,
    payload: Vec<u8>,
    secret: String,
) -> PyResult<()> {
    let scope = vm.new_scope_with_builtins();
    scope
        .globals
        .set_item("__name__", vm.ctx.new_str("__nxt_harness__").into(), vm)?;
    let source = harness.source();
    let code = vm
        .compile(
            &source,
            rustpython::vm::compiler::Mode::Exec,
            "<harness>".to_owned(),
        )
        .map_err(|err| vm.new_syntax_error(&err, Some(&source)))?;
    vm.run_code_obj(code, scope.clone())?;
    let main = scope.globals.get_item("main", vm)?;
    let payload = vm.ctx.new_bytes(payload);
    if harness.takes_secret() {
        main.call((payload, vm.ctx.new_str(secret)), vm)?;
    } else {
        drop(secret);
        main.call((payload,), vm)?;
    }
    Ok(())
}

/// The exit code of an exception that escaped `main`: a `SystemExit`'s code (its
/// message printed when it is not a number), 1 with a traceback for anything else.
fn exit_code(vm: &VirtualMachine, exc: PyBaseExceptionRef) -> i32 {
    if exc.fast_isinstance(vm.ctx.exceptions.system_exit) {
        vm.handle_exit_exception(exc) as i32
    } else {
        vm.print_exception(exc);
        1
    }
}

fn flush(vm: &VirtualMachine) {
    for name in ["stdout", "stderr"] {
        if let Ok(stream) = vm.sys_module.get_attr(name, vm) {
            let _ = vm.call_method(&stream, "flush", ());
        }
    }
}
