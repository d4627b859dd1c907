//! `mosaic federation grant …` against a real `mosaic gateway serve`.
