//! Trace a buggy program with CPython and print it with its NExT inline trace, then
//! fit the same trace into a small token budget.
//!
//! Run with `cargo run -p nxt --example trace_and_render`.

use nxt::inline::Layout;
use nxt::trace::CPythonTracerBuilder;
use nxt::{Program, RenderOptions, TraceOptions, Tracer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source = "\
def separate_odd_and_even(lst):
    odd_list = []
    even_list = []
    for n in lst:
        if n % 2 == 1:
            even_list.append(n)
        else:
            odd_list.append(n)
    return odd_list, even_list

assert separate_odd_and_even([1, 2, 3, 4]) == ([1, 3], [2, 4])
";
    let tracer = CPythonTracerBuilder::new().build()?;
    let trace = tracer.trace(
        &Program::new("odd_even.py", source),
        &TraceOptions::default(),
    )?;
    println!(
        "{} steps from {}, ending {:?}\n",
        trace.steps.len(),
        trace.interpreter,
        trace.ending
    );

    let layout = Layout::new(source)?;
    let rendering = layout.render(&trace, &RenderOptions::default())?;
    print!("{}", rendering.text);

    // The same trace within 60 whitespace-separated tokens.
    let (small, report) = layout.render_within(&trace, &RenderOptions::default(), 60, |text| {
        text.split_whitespace().count()
    })?;
    println!(
        "\nwithin 60 tokens ({:?}):\n{}",
        report.measures, small.text
    );
    Ok(())
}
