// tokenledger CLI: rendering a result as an aligned table, RFC 4180 CSV or JSON.
#pragma once
#include <ostream>
#include <string>

#include "tokenledger/client.hpp"

namespace tlcli {

enum class Format { Table, Csv, Json };

/// Parses "table", "csv" or "json"; false otherwise.
bool parse_format(const std::string& s, Format& out);

/// Table: columns padded to the widest value, numbers right-aligned, NULL
/// shown as empty. CSV: RFC 4180 (CRLF line ends, fields with a comma,
/// quote, CR or LF are quoted, quotes doubled), a header row, NULL as an
/// empty field. JSON: an array of objects, keys in column order, values as
/// numbers, booleans, strings, arrays (of one-dimensional
/// integer and text arrays) or null, one object per line.
void render(std::ostream& out, const tokenledger::Table& t, Format f);

std::string csv_field(const std::string& s);
std::string json_string(const std::string& s);

}  // namespace tlcli
