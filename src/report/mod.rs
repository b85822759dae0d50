//! Reports: terminal, JSON, CSV, hlog, HTML, JUnit, Markdown.
