//! afm-spark
