"""The benchmark protocol of docs/benchmark.md: suites as data (``suite``), the methods compared
(``methods``), the resumable sweep (``runner``), per-family scores (``scores``), metric
functions (``metrics``), the analysis of a bench folder (``analysis``) and its report
(``report``)."""
