# Reference numbers for itpcohort's statistics, computed once with R and stored
# as fixtures (tests/fixtures/r/expected/*.csv); CI does not need R.
#
#   .venv/bin/python tests/r/make_inputs.py    # inputs (tests/fixtures/r/inputs)
#   Rscript tests/r/reference.R                # outputs (tests/fixtures/r/expected)
#
# Made with R 4.2.2 and survival 3.5.3. Conventions asked of R, as the package
# uses them: conf.type = "log-log" for every curve (Kaplan-Meier: Greenwood
# variance; multi-state Aalen-Johansen: survfit's infinitesimal-jackknife
# standard error); quantiles by quantile.survfit's rule (survival:::findq,
# also used on the cumulative incidence, which quantile() does not offer);
# numbers at risk from summary(fit, times = ...).
suppressMessages(library(survival))
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
inputs <- file.path(here, "..", "fixtures", "r", "inputs")
expected <- file.path(here, "..", "fixtures", "r", "expected")
dir.create(expected, showWarnings = FALSE, recursive = TRUE)
out <- function(frame, name) {
  write.csv(frame, file.path(expected, name), row.names = FALSE, na = "")
}
options(digits = 17)
tol <- sqrt(.Machine$double.eps)
landmark_days <- c(30.4375, 91.3125, 182.625, 365.25, 730.5)

survival <- read.csv(file.path(inputs, "survival.csv"))
curves <- list(); quants <- list(); marks <- list()
for (name in unique(survival$dataset)) {
  d <- survival[survival$dataset == name, ]
  if (startsWith(name, "km_")) {
    fits <- list(
      km = survfit(Surv(time, status == 1) ~ 1, data = d, conf.type = "log-log"),
      reverse = survfit(Surv(time, status == 0) ~ 1, data = d, conf.type = "log-log")
    )
    for (kind in names(fits)) {
      f <- fits[[kind]]
      curves[[length(curves) + 1]] <- data.frame(
        dataset = name, kind = kind, time = f$time, n_risk = f$n.risk, n_event = f$n.event,
        n_censor = f$n.censor, estimate = f$surv, std_err = f$surv * f$std.err,
        lower = f$lower, upper = f$upper)
      q <- quantile(f, 0.5)
      quants[[length(quants) + 1]] <- data.frame(
        dataset = name, kind = kind, median = unname(q$quantile), lower = unname(q$lower),
        upper = unname(q$upper))
      days <- landmark_days[landmark_days <= max(d$time)]
      if (length(days)) {
        s <- summary(f, times = days, extend = FALSE)
        marks[[length(marks) + 1]] <- data.frame(
          dataset = name, kind = kind, day = days,
          n_risk = s$n.risk, estimate = s$surv, lower = s$lower, upper = s$upper)
      }
    }
  } else {
    status <- factor(d$status, levels = 0:2, labels = c("censor", "response", "stopped"))
    f <- survfit(Surv(d$time, status) ~ 1, conf.type = "log-log")
    j <- which(f$states == "response"); k <- which(f$states == "stopped")
    curves[[length(curves) + 1]] <- data.frame(
      dataset = name, kind = "aj", time = f$time, n_risk = f$n.risk[, 1],
      n_event = f$n.event[, j], n_censor = f$n.censor, estimate = f$pstate[, j],
      std_err = f$std.err[, j], lower = f$lower[, j], upper = f$upper[, j],
      other = f$pstate[, k])
    x <- c(0, f$time)
    quants[[length(quants) + 1]] <- data.frame(
      dataset = name, kind = "aj",
      median = survival:::findq(x, c(0, f$pstate[, j]), 0.5, tol),
      lower = survival:::findq(x, c(0, f$upper[, j]), 0.5, tol),
      upper = survival:::findq(x, c(0, f$lower[, j]), 0.5, tol))
    days <- landmark_days[landmark_days <= max(d$time)]
    if (length(days)) {
      s <- summary(f, times = days, extend = FALSE)
      marks[[length(marks) + 1]] <- data.frame(
        dataset = name, kind = "aj", day = days, n_risk = s$n.risk[, 1],
        estimate = s$pstate[, j], lower = s$lower[, j], upper = s$upper[, j])
    }
  }
}
out(do.call(rbind, lapply(curves, function(c) { if (is.null(c$other)) c$other <- NA; c })),
    "curves.csv")
out(do.call(rbind, quants), "quantiles.csv")
out(do.call(rbind, marks), "landmarks.csv")

# 2 x 2 tables: Fisher's exact test, conditional odds ratio with exact CI, Wilson
# intervals per group and Newcombe's hybrid score interval of the difference
t22 <- read.csv(file.path(inputs, "two_by_two.csv"))
rows <- lapply(seq_len(nrow(t22)), function(i) {
  r <- t22[i, ]
  f <- fisher.test(matrix(c(r$a, r$c, r$b, r$d), 2))
  w1 <- suppressWarnings(prop.test(r$a, r$a + r$b, correct = FALSE))$conf.int
  w2 <- suppressWarnings(prop.test(r$c, r$c + r$d, correct = FALSE))$conf.int
  p1 <- r$a / (r$a + r$b); p2 <- r$c / (r$c + r$d)
  data.frame(r, p_value = f$p.value, odds_ratio = unname(f$estimate),
             or_low = f$conf.int[1], or_high = f$conf.int[2],
             difference = p1 - p2,
             rd_low = p1 - p2 - sqrt((p1 - w1[1])^2 + (w2[2] - p2)^2),
             rd_high = p1 - p2 + sqrt((w1[2] - p1)^2 + (p2 - w2[1])^2))
})
out(do.call(rbind, rows), "two_by_two.csv")

# k x 2 tables: Fisher-Freeman-Halton (fisher.test on the k x 2 table)
tk2 <- read.csv(file.path(inputs, "k_by_two.csv"))
rows <- lapply(split(tk2, tk2$table), function(t) {
  m <- cbind(t$responders, t$n - t$responders)
  data.frame(table = t$table[1], p_value = fisher.test(m)$p.value,
             chisq_p = suppressWarnings(chisq.test(m, correct = FALSE)$p.value))
})
out(do.call(rbind, rows), "k_by_two.csv")

# Mann-Whitney (wilcox.test defaults: exact below 50 per group without ties)
smp <- read.csv(file.path(inputs, "samples.csv"))
rows <- lapply(split(smp, smp$sample), function(s) {
  w <- suppressWarnings(wilcox.test(s$value[s$group == "x"], s$value[s$group == "y"]))
  data.frame(sample = s$sample[1], p_value = w$p.value, method = w$method)
})
out(do.call(rbind, rows), "samples.csv")

# exact binomial (Clopper-Pearson) intervals
bin <- read.csv(file.path(inputs, "binomial.csv"))
rows <- lapply(seq_len(nrow(bin)), function(i) {
  ci <- binom.test(bin$k[i], bin$n[i])$conf.int
  data.frame(k = bin$k[i], n = bin$n[i], ci_low = ci[1], ci_high = ci[2])
})
out(do.call(rbind, rows), "binomial.csv")
writeLines(c(R.version.string, paste("survival", packageVersion("survival"))),
           file.path(expected, "VERSION"))
