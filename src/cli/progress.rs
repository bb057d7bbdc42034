//! Progress bars on standard error: the detection's scans, ingest's records, generate's rows.
//! Drawn only on a terminal.

use crate::plan::ScanProgress;

/// The detection's progress bar on standard error: files scanned of the lake's total. Drawn only
/// on a terminal, and only once the run has taken more than a moment.
pub struct ScanBar {
    bar: indicatif::ProgressBar,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl ScanBar {
    const DELAY: std::time::Duration = std::time::Duration::from_millis(750);

    pub fn start(progress: &ScanProgress) -> ScanBar {
        // indicatif draws nothing when standard error is not a terminal.
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} files  {msg}",
            )
            .expect("valid template"),
        );
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return ScanBar { bar, ticker: None };
        }
        let (shown, progress) = (bar.clone(), progress.clone());
        let ticker = tokio::spawn(async move {
            tokio::time::sleep(Self::DELAY).await;
            shown.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            loop {
                let (done, total) = progress.files();
                shown.set_length(total);
                shown.set_position(done);
                shown.set_message(progress.step());
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
        ScanBar {
            bar,
            ticker: Some(ticker),
        }
    }

    /// Prints a line above the bar (or plainly when there is none).
    pub fn println(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.suspend(|| eprintln!("{line}"));
        }
    }

    pub fn finish(self) {
        if let Some(ticker) = self.ticker {
            ticker.abort();
        }
        self.bar.finish_and_clear();
    }
}

/// A spinner with a count, drawn on standard error (indicatif draws nothing off a terminal).
pub fn spinner(template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
    bar
}

/// A bar towards `length`, drawn on standard error.
pub fn bar(length: u64, template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(length);
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
    bar
}
