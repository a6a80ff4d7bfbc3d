#include "format.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace tlcli {

bool parse_format(const std::string& s, Format& out) {
    if (s == "table") out = Format::Table;
    else if (s == "csv") out = Format::Csv;
    else if (s == "json") out = Format::Json;
    else return false;
    return true;
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) {
        if (c == '"') o += '"';
        o += c;
    }
    return o + "\"";
}

std::string json_string(const std::string& s) {
    std::string o = "\"";
    for (unsigned char c : s) {
        switch (c) {
        case '"': o += "\\\""; break;
        case '\\': o += "\\\\"; break;
        case '\n': o += "\\n"; break;
        case '\r': o += "\\r"; break;
        case '\t': o += "\\t"; break;
        default:
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                o += buf;
            } else {
                o += static_cast<char>(c);
            }
        }
    }
    return o + "\"";
}

namespace {

bool numeric(const std::string& s) {
    if (s.empty()) return false;
    std::size_t i = s[0] == '-' ? 1 : 0;
    bool digit = false;
    for (; i < s.size(); ++i) {
        if (s[i] >= '0' && s[i] <= '9') digit = true;
        else if (s[i] != '.') return false;
    }
    return digit;
}

// Display width in terminal columns: counts UTF-8 code points; control
// characters are shown escaped so a value never breaks the table's lines.
std::string display(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '\n') o += "\\n";
        else if (c == '\r') o += "\\r";
        else if (c == '\t') o += "\\t";
        else o += c;
    }
    return o;
}

std::size_t width(const std::string& s) {
    std::size_t w = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++w;
    return w;
}

// A one-dimensional PostgreSQL array literal ({a,"b c",NULL}) as a JSON
// array: numbers for integer arrays, strings otherwise, NULL as null.
// Anything else (nested, with bounds) stays a JSON string.
std::string json_array(const std::string& v, bool numbers) {
    if (v.size() < 2 || v.front() != '{' || v.back() != '}') return json_string(v);
    std::string out = "[";
    std::size_t i = 1, n = v.size() - 1;
    bool first = true;
    while (i < n) {
        std::string elem;
        bool quoted = false;
        if (v[i] == '"') {
            quoted = true;
            for (++i; i < n && v[i] != '"'; ++i) {
                if (v[i] == '\\' && i + 1 < n) ++i;
                elem += v[i];
            }
            ++i;  // closing quote
        } else {
            for (; i < n && v[i] != ','; ++i) {
                if (v[i] == '{') return json_string(v);  // nested
                elem += v[i];
            }
        }
        out += first ? "" : ", ";
        first = false;
        if (!quoted && elem == "NULL") out += "null";
        else if (numbers && !quoted) out += elem;
        else out += json_string(elem);
        if (i < n && v[i] == ',') ++i;
    }
    return out + "]";
}

// Numbers and booleans as JSON numbers and booleans, arrays as arrays, the
// rest as strings.
std::string json_value(const tokenledger::Table& t, std::size_t r, std::size_t c) {
    const auto& v = t.rows[r][c];
    if (!v) return "null";
    unsigned oid = c < t.types.size() ? t.types[c] : 0;
    switch (oid) {
    case 1005: case 1007: case 1016: return json_array(*v, true);   // int2[], int4[], int8[]
    case 1009: return json_array(*v, false);                         // text[]
    case 16: return *v == "t" ? "true" : "false";     // bool
    case 20: case 21: case 23: case 1700:  // int8, int2, int4, numeric
        return *v == "NaN" || v->find('I') != std::string::npos ? json_string(*v) : *v;
    default: return json_string(*v);
    }
}

}  // namespace

void render(std::ostream& out, const tokenledger::Table& t, Format f) {
    const std::size_t nc = t.columns.size();
    if (f == Format::Csv) {
        for (std::size_t c = 0; c < nc; ++c) out << (c ? "," : "") << csv_field(t.columns[c]);
        out << "\r\n";
        for (auto& row : t.rows) {
            for (std::size_t c = 0; c < nc; ++c) out << (c ? "," : "") << (row[c] ? csv_field(*row[c]) : "");
            out << "\r\n";
        }
        return;
    }
    if (f == Format::Json) {
        out << "[";
        for (std::size_t r = 0; r < t.rows.size(); ++r) {
            out << (r ? ",\n " : "\n ") << "{";
            for (std::size_t c = 0; c < nc; ++c) {
                out << (c ? ", " : "") << json_string(t.columns[c]) << ": " << json_value(t, r, c);
            }
            out << "}";
        }
        out << (t.rows.empty() ? "]\n" : "\n]\n");
        return;
    }
    std::vector<std::vector<std::string>> cells;
    std::vector<std::size_t> w(nc);
    std::vector<bool> right(nc, true);
    for (std::size_t c = 0; c < nc; ++c) w[c] = width(t.columns[c]);
    for (auto& row : t.rows) {
        std::vector<std::string> line;
        for (std::size_t c = 0; c < nc; ++c) {
            std::string v = row[c] ? display(*row[c]) : "";
            if (row[c] && !numeric(*row[c])) right[c] = false;
            w[c] = std::max(w[c], width(v));
            line.push_back(std::move(v));
        }
        cells.push_back(std::move(line));
    }
    auto emit = [&](const std::vector<std::string>& line, bool header) {
        std::string s;
        for (std::size_t c = 0; c < nc; ++c) {
            std::string pad(w[c] - width(line[c]), ' ');
            if (c) s += " | ";
            s += (right[c] && !header) ? pad + line[c] : line[c] + pad;
        }
        while (!s.empty() && s.back() == ' ') s.pop_back();
        out << s << "\n";
    };
    emit(t.columns, true);
    std::string rule;
    for (std::size_t c = 0; c < nc; ++c) rule += (c ? "-+-" : "") + std::string(w[c], '-');
    out << rule << "\n";
    for (auto& line : cells) emit(line, false);
    out << "(" << t.rows.size() << (t.rows.size() == 1 ? " row)\n" : " rows)\n");
}

}  // namespace tlcli
