"""Every function on the guard's allow-list runs on SQLite and on MariaDB, with the same result.

The cases are calls with fixed literal arguments (and NULLs), checked by the guard and run through
the real runners. Aggregates and window functions run over a small inline table, and the date and
number functions over typed columns too (DATE, DATETIME and DECIMAL, as the demo tables have them).
The clock functions are compared within a couple of seconds, and the functions whose result depends
on the server's character set (CHARSET, COLLATION, WEIGHT_STRING) or on chance (RAND()) through an
expression about them that both engines must answer alike.

Every case runs on SQLite, where a stated ``expected`` value is checked too, and is compared with
MariaDB (which ``make test`` starts; a server that is down fails the test, it is not skipped).

A name added to ``functions.txt`` without a case here fails ``test_every_allowed_function_has_a_case``.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from askdb.schemas.catalog import packaged_catalog
from askdb.sql.context import GuardContext
from askdb.sql.guard import check
from askdb.sql.runner import SqlAlchemyRunner, open_runner, run_tree
from tests.conftest import mariadb_admin, mysql_url

# A small table with a NULL in each column: g groups, x numbers, s strings, d dates, j JSON.
T = (
    "(SELECT 1 AS g, 3 AS x, 'b' AS s, '2024-03-05' AS d, '{\"k\": 1}' AS j "
    "UNION ALL SELECT 1, 1, 'a', '2024-01-31', '[1, 2]' "
    "UNION ALL SELECT 2, 4, NULL, NULL, NULL "
    "UNION ALL SELECT 2, NULL, 'c', '2023-12-31', '\"x\"' "
    "UNION ALL SELECT 2, 6, 'a', '2024-02-29', '{\"k\": [3]}') AS t"
)
# Typed columns, as the demo tables have them: DATE, DATETIME, DECIMAL, and a time_slot text.
TT = (
    "(SELECT CAST('2024-03-05' AS DATE) AS day, CAST('2024-03-05 14:07:09' AS DATETIME) AS at, "
    "CAST(1234.5 AS DECIMAL(10, 2)) AS amount, '2025-03-01 10:00 - 11:00' AS time_slot "
    "UNION ALL SELECT CAST('2024-12-31' AS DATE), CAST('2024-12-31 23:59:59' AS DATETIME), "
    "CAST(-0.5 AS DECIMAL(10, 2)), '2025-03-02 09:30 - 10:30' "
    "UNION ALL SELECT NULL, NULL, NULL, NULL) AS tt"
)
MISSING = object()


@dataclass(frozen=True)
class Case:
    name: str  # the allow-listed name the case stands for
    sql: str  # a full SELECT, or an expression that becomes SELECT <expr> AS v
    expected: Any = MISSING  # the value (first cell) both engines must give, where worth stating
    compare: str = "same"  # same | json (JSON text compared as JSON) | clock (within 2 seconds)
    rel_tol: float = 1e-6

    @property
    def statement(self) -> str:
        return self.sql if self.sql.lstrip().upper().startswith("SELECT ") else f"SELECT {self.sql} AS v"


def e(name: str, sql: str, expected: Any = MISSING, compare: str = "same") -> Case:
    return Case(name, sql, expected, compare)


def agg(name: str, call: str, expected: Any = MISSING, compare: str = "same", rel_tol: float = 1e-6) -> Case:
    return Case(name, f"SELECT g, {call} AS v FROM {T} GROUP BY g ORDER BY g", expected, compare, rel_tol)


def col(name: str, call: str, compare: str = "same") -> Case:
    return Case(name, f"SELECT {call} AS v FROM {TT} ORDER BY day", compare=compare)


def win(name: str, call: str) -> Case:
    return Case(name, f"SELECT g, x, {call} AS v FROM {T} ORDER BY x, g")


CASES: list[Case] = [
    # -- aggregates --------------------------------------------------------------------------------
    agg("AVG", "AVG(x)", 2.0),
    agg("COUNT", "COUNT(x)", 2),
    agg("COUNT", "COUNT(*)", 2),
    agg("COUNT", "COUNT(DISTINCT s)", 2),
    agg("SUM", "SUM(x)", 4),
    e("SUM", f"SELECT SUM(x) AS v FROM {T} WHERE x > 100", None),
    agg("MIN", "MIN(x)", 1),
    agg("MIN", "MIN(s)", "a"),
    agg("MAX", "MAX(x)", 3),
    agg("MAX", "MAX(d)", "2024-03-05"),
    agg("GROUP_CONCAT", "GROUP_CONCAT(s ORDER BY s)", "a,b"),
    agg("GROUP_CONCAT", "GROUP_CONCAT(s ORDER BY s DESC SEPARATOR ';')", "b;a"),
    agg("GROUP_CONCAT", "GROUP_CONCAT(DISTINCT s ORDER BY s SEPARATOR '|')", "a|b"),
    agg("GROUP_CONCAT", "GROUP_CONCAT(x ORDER BY x DESC)", "3,1"),
    agg("BIT_AND", "BIT_AND(x)", 1),
    agg("BIT_OR", "BIT_OR(x)", 3),
    agg("BIT_XOR", "BIT_XOR(x)", 2),
    agg("STD", "STD(x)", 1.0),
    agg("STDDEV", "STDDEV(x)", 1.0),
    agg("STDDEV_POP", "STDDEV_POP(x)", 1.0),
    # MariaDB sends STDDEV_SAMP of integers with 4 decimals (1.4142), the display precision it derives.
    agg("STDDEV_SAMP", "STDDEV_SAMP(x)", math.sqrt(2), rel_tol=1e-4),
    agg("VARIANCE", "VARIANCE(x)", 1.0),
    agg("VAR_POP", "VAR_POP(x)", 1.0),
    agg("VAR_SAMP", "VAR_SAMP(x)", 2.0),
    agg("JSON_ARRAYAGG", "JSON_ARRAYAGG(g)", [1, 1], "json"),
    agg("JSON_OBJECTAGG", "JSON_OBJECTAGG(s, x)", {"a": 1, "b": 3}, "json"),
    agg("ANY_VALUE", "ANY_VALUE(g)", 1),
    # -- window functions --------------------------------------------------------------------------
    win("ROW_NUMBER", "ROW_NUMBER() OVER (ORDER BY x, g)"),
    win("ROW_NUMBER", "ROW_NUMBER() OVER (PARTITION BY g ORDER BY x DESC)"),
    win("RANK", "RANK() OVER (ORDER BY g)"),
    win("DENSE_RANK", "DENSE_RANK() OVER (ORDER BY g)"),
    win("PERCENT_RANK", "PERCENT_RANK() OVER (ORDER BY g)"),
    win("CUME_DIST", "CUME_DIST() OVER (ORDER BY g)"),
    win("NTILE", "NTILE(2) OVER (ORDER BY x, g)"),
    win("LAG", "LAG(x) OVER (ORDER BY x, g)"),
    win("LAG", "LAG(x, 2, 0) OVER (PARTITION BY g ORDER BY x)"),
    win("LEAD", "LEAD(x) OVER (ORDER BY x, g)"),
    win("FIRST_VALUE", "FIRST_VALUE(x) OVER (PARTITION BY g ORDER BY x DESC)"),
    win("LAST_VALUE", "LAST_VALUE(x) OVER (PARTITION BY g ORDER BY x)"),
    win(
        "LAST_VALUE",
        "LAST_VALUE(x) OVER (PARTITION BY g ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)",
    ),
    win("NTH_VALUE", "NTH_VALUE(x, 2) OVER (ORDER BY x, g)"),
    win("SUM", "SUM(x) OVER (PARTITION BY g)"),
    # -- control flow and comparison ---------------------------------------------------------------
    e("IF", "IF(1 > 2, 'a', 'b')", "b"),
    e("IF", "IF(NULL, 1, 2)", 2),
    e("IFNULL", "IFNULL(NULL, 'x')", "x"),
    e("IFNULL", "IFNULL(1, 2)", 1),
    e("NULLIF", "NULLIF(1, 1)", None),
    e("NULLIF", "NULLIF(1, 2)", 1),
    e("COALESCE", "COALESCE(NULL, NULL, 3)", 3),
    e("GREATEST", "GREATEST(1, 5, 3)", 5),
    e("GREATEST", "GREATEST(1, NULL)", None),
    e("GREATEST", "GREATEST('apple', 'banana')", "banana"),
    e("LEAST", "LEAST(4, 2.5, 3)", 2.5),
    e("LEAST", "LEAST(NULL, 1)", None),
    e("ISNULL", "ISNULL(NULL)", 1),
    e("ISNULL", "ISNULL(0)", 0),
    e("INTERVAL", "INTERVAL(23, 1, 15, 17, 30, 44, 200)", 3),
    e("INTERVAL", "INTERVAL(10, 1, 10, 100)", 2),
    e("INTERVAL", "INTERVAL(0, 1, 10)", 0),
    e("INTERVAL", "INTERVAL(NULL, 1, 10)", -1),
    e("STRCMP", "STRCMP('text', 'text2')", -1),
    e("STRCMP", "STRCMP('b', 'a')", 1),
    e("STRCMP", "STRCMP('abc', 'ABC')", 0),
    e("STRCMP", "STRCMP(NULL, 'a')", None),
    # -- numbers -----------------------------------------------------------------------------------
    e("ABS", "ABS(-2.5)", 2.5),
    e("ABS", "ABS(NULL)", None),
    e("ACOS", "ACOS(0.5)", math.acos(0.5)),
    e("ACOS", "ACOS(2)", None),
    e("ASIN", "ASIN(0.5)", math.asin(0.5)),
    e("ATAN", "ATAN(1)", math.atan(1)),
    e("ATAN", "ATAN(1, 2)", math.atan2(1, 2)),
    e("ATAN2", "ATAN2(-1, -2)", math.atan2(-1, -2)),
    e("CEIL", "CEIL(1.2)", 2),
    e("CEILING", "CEILING(-1.8)", -1),
    e("CONV", "CONV('a', 16, 2)", "1010"),
    e("CONV", "CONV(255, 10, 16)", "FF"),
    e("CONV", "CONV('zz', 36, 10)", "1295"),
    e("CONV", "CONV(NULL, 10, 2)", None),
    e("COS", "COS(0)", 1.0),
    e("COT", "COT(1)", 1 / math.tan(1)),
    e("CRC32", "CRC32('MySQL')", 3259397556),
    e("CRC32", "CRC32(NULL)", None),
    e("DEGREES", "DEGREES(PI())", 180.0),
    e("DIV", "7 DIV 2", 3),
    e("DIV", "-7 DIV 2", -3),
    e("DIV", "7 DIV 0", None),
    e("EXP", "EXP(1)", math.e),
    e("FLOOR", "FLOOR(-1.5)", -2),
    e("FLOOR", "FLOOR(NULL)", None),
    e("LN", "LN(10)", math.log(10)),
    e("LN", "LN(0)", None),
    e("LOG", "LOG(100)", math.log(100)),
    e("LOG", "LOG(2, 8)", 3.0),
    e("LOG", "LOG(-1)", None),
    e("LOG10", "LOG10(1000)", 3.0),
    e("LOG2", "LOG2(8)", 3.0),
    e("MOD", "MOD(-7, 3)", -1),
    e("MOD", "7.5 MOD 2", 1.5),
    e("MOD", "7 % 3", 1),
    e("MOD", "MOD(7, 0)", None),
    e("PI", "PI()", math.pi),
    e("POW", "POW(2, 10)", 1024),
    e("POWER", "POWER(2, -1)", 0.5),
    e("RADIANS", "RADIANS(180)", math.pi),
    e("RAND", "RAND() >= 0 AND RAND() < 1", 1),
    e("RAND", "FLOOR(RAND() * 10) BETWEEN 0 AND 9", 1),
    # A seed gives MySQL's own sequence: once per statement for a constant, per row for a column.
    e("RAND", "RAND(3)", 0.9057697559760601),
    e("RAND", f"SELECT g, x, RAND(3) AS v FROM {T}"),
    e("RAND", f"SELECT g, x, RAND(x) AS v FROM {T} ORDER BY x, g"),
    e("ROUND", "ROUND(2.5)", 3),
    e("ROUND", "ROUND(-2.5)", -3),
    e("ROUND", "ROUND(1.2345, 2)", 1.23),
    e("ROUND", "ROUND(1234.5678, -2)", 1200),
    e("ROUND", "ROUND(NULL)", None),
    e("SIGN", "SIGN(-3)", -1),
    e("SIN", "SIN(PI() / 2)", 1.0),
    e("SQRT", "SQRT(16)", 4.0),
    e("SQRT", "SQRT(-1)", None),
    e("TAN", "TAN(0)", 0.0),
    e("TRUNCATE", "TRUNCATE(1.999, 1)", 1.9),
    e("TRUNCATE", "TRUNCATE(-1.999, 0)", -1),
    e("TRUNCATE", "TRUNCATE(122, -2)", 100),
    e("FORMAT", "FORMAT(1234567.891, 2)", "1,234,567.89"),
    e("FORMAT", "FORMAT(1234.5, 0)", "1,235"),
    e("FORMAT", "FORMAT(-1234.567, 1)", "-1,234.6"),
    e("FORMAT", "FORMAT(0.125, 2)", "0.13"),
    e("FORMAT", "FORMAT(12, 3)", "12.000"),
    e("FORMAT", "FORMAT(NULL, 2)", None),
    # -- strings -----------------------------------------------------------------------------------
    e("ASCII", "ASCII('A')", 65),
    e("ASCII", "ASCII('')", 0),
    e("ASCII", "ASCII(NULL)", None),
    e("BIN", "BIN(12)", "1100"),
    e("BIT_LENGTH", "BIT_LENGTH('text')", 32),
    e("BIT_LENGTH", "BIT_LENGTH('数据')", 48),
    e("CHAR", "CHAR(77, 121, 83, 81, 76)", "MySQL"),
    e("CHAR_LENGTH", "CHAR_LENGTH('数据')", 2),
    e("CHARACTER_LENGTH", "CHARACTER_LENGTH('数据ab')", 4),
    e("CONCAT", "CONCAT('a', 1, 'b')", "a1b"),
    e("CONCAT", "CONCAT('a', NULL)", None),
    e("CONCAT_WS", "CONCAT_WS(',', 'a', NULL, 'b')", "a,b"),
    e("ELT", "ELT(2, 'a', 'b', 'c')", "b"),
    e("ELT", "ELT(4, 'a', 'b')", None),
    e("FIELD", "FIELD('b', 'a', 'b', 'c')", 2),
    e("FIELD", "FIELD('z', 'a', 'b')", 0),
    e("FIELD", "FIELD(NULL, 'a')", 0),
    e("FIND_IN_SET", "FIND_IN_SET('b', 'a,b,c')", 2),
    e("FIND_IN_SET", "FIND_IN_SET('z', 'a,b,c')", 0),
    e("FIND_IN_SET", "FIND_IN_SET(NULL, 'a')", None),
    e("HEX", "HEX(255)", "FF"),
    e("HEX", "HEX('abc')", "616263"),
    e("HEX", "HEX('数')", "E695B0"),
    e("HEX", "HEX(NULL)", None),
    e("INSERT", "INSERT('Quadratic', 3, 4, 'What')", "QuWhattic"),
    e("INSERT", "INSERT('Quadratic', -1, 4, 'What')", "Quadratic"),
    e("INSERT", "INSERT('Quadratic', 3, 100, 'What')", "QuWhat"),
    e("INSTR", "INSTR('foobarbar', 'bar')", 4),
    e("INSTR", "INSTR('xbar', 'foobar')", 0),
    e("LCASE", "LCASE('MySQL')", "mysql"),
    e("LEFT", "LEFT('foobarbar', 5)", "fooba"),
    e("LENGTH", "LENGTH('数据')", 6),
    e("LOCATE", "LOCATE('bar', 'foobarbar')", 4),
    e("LOCATE", "LOCATE('bar', 'foobarbar', 5)", 7),
    e("LOCATE", "LOCATE('xbar', 'foobar')", 0),
    e("LOWER", "LOWER('QUADRATICALLY')", "quadratically"),
    e("LOWER", "LOWER('ÄÖÜ Straße')", "äöü straße"),
    e("LPAD", "LPAD('hi', 4, '??')", "??hi"),
    e("LPAD", "LPAD('hi', 1, '??')", "h"),
    e("LTRIM", "LTRIM('  barbar')", "barbar"),
    e("MID", "MID('Quadratically', 5, 6)", "ratica"),
    e("OCT", "OCT(12)", "14"),
    e("OCTET_LENGTH", "OCTET_LENGTH('数据')", 6),
    e("ORD", "ORD('2')", 50),
    e("ORD", "ORD('数')", 15111600),
    e("POSITION", "POSITION('bar' IN 'foobarbar')", 4),
    e("QUOTE", "QUOTE('Don''t!')", "'Don\\'t!'"),
    e("QUOTE", "QUOTE(NULL)", "NULL"),
    e("REGEXP_INSTR", "REGEXP_INSTR('dog cat dog', 'cat')", 5),
    e("REGEXP_LIKE", "REGEXP_LIKE('Michael!', '.*')", 1),
    e("REGEXP_LIKE", "'abc' REGEXP '^b'", 0),
    e("REGEXP_LIKE", "'ABC' REGEXP 'b'", 1),
    e("REGEXP_LIKE", "REGEXP_LIKE('ABC', 'b', 'c')", 0),
    e("REGEXP_LIKE", "'abcde' RLIKE 'c.e$'", 1),
    e("REGEXP_LIKE", "NULL REGEXP 'a'", None),
    e("REGEXP_REPLACE", "REGEXP_REPLACE('a b c', 'b', 'X')", "a X c"),
    e("REGEXP_REPLACE", "REGEXP_REPLACE('abc def', '[a-z]+', 'w')", "w w"),
    e("REGEXP_SUBSTR", "REGEXP_SUBSTR('abc def ghi', '[a-z]+')", "abc"),
    e("REPEAT", "REPEAT('ab', 3)", "ababab"),
    e("REPEAT", "REPEAT('ab', 0)", ""),
    e("REPLACE", "REPLACE('www.mysql.com', 'w', 'Ww')", "WwWwWw.mysql.com"),
    e("REVERSE", "REVERSE('数据abc')", "cba据数"),
    e("RIGHT", "RIGHT('foobarbar', 4)", "rbar"),
    e("RPAD", "RPAD('hi', 5, '?')", "hi???"),
    e("RTRIM", "RTRIM('barbar   ')", "barbar"),
    e("SOUNDEX", "SOUNDEX('Hello')", "H400"),
    e("SOUNDEX", "SOUNDEX('Quadratically')", "Q36324"),
    e("SPACE", "SPACE(3)", "   "),
    e("SUBSTR", "SUBSTR('Quadratically', 5)", "ratically"),
    e("SUBSTRING", "SUBSTRING('Quadratically', 5, 6)", "ratica"),
    e("SUBSTRING", "SUBSTRING('Sakila', -3)", "ila"),
    e("SUBSTRING", "SUBSTRING('Sakila' FROM 2 FOR 3)", "aki"),
    e("SUBSTRING", "SUBSTRING('Sakila', 0)", ""),
    e("SUBSTRING_INDEX", "SUBSTRING_INDEX('www.mysql.com', '.', 2)", "www.mysql"),
    e("SUBSTRING_INDEX", "SUBSTRING_INDEX('www.mysql.com', '.', -2)", "mysql.com"),
    e("TRIM", "TRIM('  bar   ')", "bar"),
    e("TRIM", "TRIM(LEADING 'x' FROM 'xxxbarxxx')", "barxxx"),
    e("TRIM", "TRIM(BOTH 'x' FROM 'xxxbarxxx')", "bar"),
    e("TRIM", "TRIM(TRAILING 'xyz' FROM 'barxxyz')", "barx"),
    e("UCASE", "UCASE('hej')", "HEJ"),
    e("UNHEX", "UNHEX('4D7953514C')", "MySQL"),
    e("UPPER", "UPPER('hej')", "HEJ"),
    e("UPPER", "UPPER('äöü straße')", "ÄÖÜ STRAßE"),
    e("MD5", "MD5('testing')", "ae2b1fca515949e5d54fb22b8ed95575"),
    e("SHA1", "SHA1('abc')", "a9993e364706816aba3e25717850c26c9cd0d89d"),
    e("SHA2", "SHA2('abc', 256)", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    e("SHA2", "SHA2('abc', 224)", "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
    e("TO_BASE64", "TO_BASE64('abc')", "YWJj"),
    e("TO_BASE64", "TO_BASE64(REPEAT('a', 60))"),
    e("FROM_BASE64", "FROM_BASE64('YWJj')", "abc"),
    e("CHARSET", "CHARSET('abc') LIKE 'utf8%'", 1),
    e("CHARSET", "CHARSET(CONCAT('a', 'b')) = CHARSET('ab')", 1),
    e("CHARSET", "CHARSET(1)", "binary"),
    e("COLLATION", "COLLATION('abc') LIKE CONCAT(CHARSET('abc'), '%')", 1),
    e("WEIGHT_STRING", "WEIGHT_STRING('a') = WEIGHT_STRING('A')", 1),
    e("WEIGHT_STRING", "WEIGHT_STRING('a') < WEIGHT_STRING('b')", 1),
    e("WEIGHT_STRING", "WEIGHT_STRING(NULL)", None),
    # -- dates and times ---------------------------------------------------------------------------
    e("ADDDATE", "ADDDATE('2024-01-31', INTERVAL 1 MONTH)", "2024-02-29"),
    e("ADDDATE", "ADDDATE('2024-01-01', 31)", "2024-02-01"),
    e("ADDTIME", "ADDTIME('2024-01-01 23:59:59', '1:00:01')", "2024-01-02 01:00:00"),
    e("ADDTIME", "ADDTIME('01:00:00', '02:30:00')", "03:30:00"),
    e("CONVERT_TZ", "CONVERT_TZ('2024-01-01 12:00:00', '+00:00', '+08:00')", "2024-01-01 20:00:00"),
    e("CONVERT_TZ", "CONVERT_TZ(NULL, '+00:00', '+08:00')", None),
    e("CURDATE", "CURDATE()", compare="clock"),
    e("CURDATE", "DATE(NOW()) = CURDATE()", 1),
    e("CURRENT_DATE", "CURRENT_DATE", compare="clock"),
    e("CURRENT_DATE", "CURRENT_DATE()", compare="clock"),
    e("CURRENT_TIME", "CURRENT_TIME", compare="clock"),
    e("CURRENT_TIME", "CURRENT_TIME()", compare="clock"),
    e("CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP", compare="clock"),
    e("CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP()", compare="clock"),
    e("CURTIME", "CURTIME()", compare="clock"),
    e("DATE", "DATE('2024-03-05 10:11:12')", "2024-03-05"),
    e("DATE", "DATE(NULL)", None),
    e("DATE_ADD", "DATE_ADD('2024-01-31', INTERVAL 1 MONTH)", "2024-02-29"),
    e("DATE_ADD", "DATE_ADD('2024-01-01 10:00:00', INTERVAL 90 MINUTE)", "2024-01-01 11:30:00"),
    e("DATE_ADD", "DATE_ADD('2024-01-01', INTERVAL 1 HOUR)", "2024-01-01 01:00:00"),
    e("DATE_ADD", "'2024-03-05' + INTERVAL 1 DAY", "2024-03-06"),
    e("DATE_FORMAT", "DATE_FORMAT('2024-03-05 14:07:09', '%Y-%m-%d %H:%i:%s')", "2024-03-05 14:07:09"),
    e("DATE_FORMAT", "DATE_FORMAT('2024-03-05 14:07:09', '%Y%m')", "202403"),
    e("DATE_FORMAT", "DATE_FORMAT('2024-03-05 14:07:09', '%W %M %e %D %j %a %b %p %r %T %y %c %k %l %h')"),
    e("DATE_FORMAT", "DATE_FORMAT('2024-01-01', '%U %u %V %v %X %x %w')"),
    e("DATE_FORMAT", "DATE_FORMAT(NULL, '%Y')", None),
    e("DATE_SUB", "DATE_SUB('2024-03-31', INTERVAL 1 MONTH)", "2024-02-29"),
    e("DATE_SUB", "'2024-03-01 00:00:00' - INTERVAL 1 SECOND", "2024-02-29 23:59:59"),
    e("DATEDIFF", "DATEDIFF('2024-03-01', '2024-02-01')", 29),
    e("DATEDIFF", "DATEDIFF(NULL, '2024-02-01')", None),
    e("DAY", "DAY('2024-03-05')", 5),
    e("DAYNAME", "DAYNAME('2024-03-05')", "Tuesday"),
    e("DAYOFMONTH", "DAYOFMONTH('2024-03-05')", 5),
    e("DAYOFWEEK", "DAYOFWEEK('2024-03-05')", 3),
    e("DAYOFYEAR", "DAYOFYEAR('2024-03-05')", 65),
    e("EXTRACT", "EXTRACT(YEAR FROM '2024-03-05')", 2024),
    e("EXTRACT", "EXTRACT(MONTH FROM '2024-03-05 10:11:12')", 3),
    e("EXTRACT", "EXTRACT(HOUR FROM '2024-03-05 10:11:12')", 10),
    e("EXTRACT", "EXTRACT(QUARTER FROM '2024-08-05')", 3),
    e("EXTRACT", "EXTRACT(WEEK FROM '2024-03-05')", 9),
    e("EXTRACT", "EXTRACT(YEAR_MONTH FROM '2024-03-05')", 202403),
    e("EXTRACT", "EXTRACT(DAY_HOUR FROM '2024-03-05 10:11:12')", 510),
    e("FROM_DAYS", "FROM_DAYS(730669)", "2000-07-03"),
    e("FROM_UNIXTIME", "FROM_UNIXTIME(1700000000) = TIMESTAMPADD(SECOND, 1700000000, FROM_UNIXTIME(0))", 1),
    e("FROM_UNIXTIME", "FROM_UNIXTIME(UNIX_TIMESTAMP('2024-03-05 10:11:12'))", "2024-03-05 10:11:12"),
    e(
        "FROM_UNIXTIME",
        "FROM_UNIXTIME(UNIX_TIMESTAMP('2024-03-05 10:11:12'), '%Y/%m/%d %H')",
        "2024/03/05 10",
    ),
    e("FROM_UNIXTIME", "FROM_UNIXTIME(NULL)", None),
    e("HOUR", "HOUR('10:11:12')", 10),
    e("HOUR", "HOUR('2024-03-05 10:11:12')", 10),
    e("LAST_DAY", "LAST_DAY('2024-02-10')", "2024-02-29"),
    e("LOCALTIME", "LOCALTIME", compare="clock"),
    e("LOCALTIME", "LOCALTIME()", compare="clock"),
    e("LOCALTIMESTAMP", "LOCALTIMESTAMP", compare="clock"),
    e("LOCALTIMESTAMP", "LOCALTIMESTAMP()", compare="clock"),
    e("MAKEDATE", "MAKEDATE(2024, 60)", "2024-02-29"),
    e("MAKEDATE", "MAKEDATE(2024, 0)", None),
    e("MAKETIME", "MAKETIME(12, 15, 30)", "12:15:30"),
    e("MICROSECOND", "MICROSECOND('2024-01-01 10:00:00.123456')", 123456),
    e("MICROSECOND", "MICROSECOND('2024-01-01 10:00:00')", 0),
    e("MINUTE", "MINUTE('2024-03-05 10:11:12')", 11),
    e("MONTH", "MONTH('2024-03-05')", 3),
    e("MONTHNAME", "MONTHNAME('2024-03-05')", "March"),
    e("NOW", "NOW()", compare="clock"),
    e("NOW", "NOW() >= '2024-01-01'", 1),
    e("PERIOD_ADD", "PERIOD_ADD(202401, 2)", 202403),
    e("PERIOD_ADD", "PERIOD_ADD(202412, 1)", 202501),
    e("PERIOD_DIFF", "PERIOD_DIFF(202403, 202301)", 14),
    e("QUARTER", "QUARTER('2024-08-05')", 3),
    e("SEC_TO_TIME", "SEC_TO_TIME(3661)", "01:01:01"),
    e("SEC_TO_TIME", "SEC_TO_TIME(90000)", "25:00:00"),
    e("SECOND", "SECOND('10:11:12')", 12),
    e("STR_TO_DATE", "STR_TO_DATE('2024-03-05 14:07', '%Y-%m-%d %H:%i')", "2024-03-05 14:07:00"),
    e("STR_TO_DATE", "STR_TO_DATE('2024-03-05 14:07:09', '%Y-%m-%d %H:%i:%s')", "2024-03-05 14:07:09"),
    e("STR_TO_DATE", "STR_TO_DATE('2024-03-05', '%Y-%m-%d')", "2024-03-05"),
    e("STR_TO_DATE", "STR_TO_DATE('05/03/2024', '%d/%m/%Y')", "2024-03-05"),
    e("STR_TO_DATE", "STR_TO_DATE('14:07', '%H:%i')", "14:07:00"),
    e("STR_TO_DATE", "STR_TO_DATE('bad', '%Y-%m-%d')", None),
    e("STR_TO_DATE", "STR_TO_DATE(NULL, '%Y-%m-%d')", None),
    e("SUBDATE", "SUBDATE('2024-03-31', INTERVAL 1 MONTH)", "2024-02-29"),
    e("SUBDATE", "SUBDATE('2024-03-01', 1)", "2024-02-29"),
    e("SUBTIME", "SUBTIME('2024-01-01 00:00:00', '00:00:01')", "2023-12-31 23:59:59"),
    e("SYSDATE", "SYSDATE()", compare="clock"),
    e("TIME", "TIME('2024-03-05 10:11:12')", "10:11:12"),
    e("TIME_FORMAT", "TIME_FORMAT('10:11:12', '%H:%i')", "10:11"),
    e("TIME_FORMAT", "TIME_FORMAT('14:07:09', '%h:%i %p')", "02:07 PM"),
    e("TIME_TO_SEC", "TIME_TO_SEC('01:01:01')", 3661),
    e("TIMEDIFF", "TIMEDIFF('2024-01-02 00:00:00', '2024-01-01 22:30:00')", "01:30:00"),
    e("TIMEDIFF", "TIMEDIFF('10:00:00', '12:30:00')", "-02:30:00"),
    e("TIMESTAMP", "TIMESTAMP('2024-03-05')", "2024-03-05 00:00:00"),
    e("TIMESTAMP", "TIMESTAMP('2024-03-05', '10:00:00')", "2024-03-05 10:00:00"),
    e("TIMESTAMPADD", "TIMESTAMPADD(MONTH, 1, '2024-01-31')", "2024-02-29"),
    e("TIMESTAMPADD", "TIMESTAMPADD(MINUTE, 90, '2024-01-01')", "2024-01-01 01:30:00"),
    e("TIMESTAMPDIFF", "TIMESTAMPDIFF(MONTH, '2024-01-31', '2024-02-29')", 0),
    e("TIMESTAMPDIFF", "TIMESTAMPDIFF(HOUR, '2024-01-01 00:00:00', '2024-01-02 12:30:00')", 36),
    e("TO_DAYS", "TO_DAYS('2024-03-05')", 739315),
    e("TO_SECONDS", "TO_SECONDS('2024-03-05 00:00:01')", 739315 * 86400 + 1),
    e("UNIX_TIMESTAMP", "UNIX_TIMESTAMP('2024-03-05 10:11:12') - UNIX_TIMESTAMP('2024-03-05 10:11:11')", 1),
    e("UNIX_TIMESTAMP", "UNIX_TIMESTAMP('2024-03-05 10:11:12')"),
    e("UNIX_TIMESTAMP", "UNIX_TIMESTAMP(NULL)", None),
    e("UNIX_TIMESTAMP", "UNIX_TIMESTAMP()", compare="clock"),
    e("UTC_DATE", "UTC_DATE()", compare="clock"),
    e("UTC_TIME", "UTC_TIME()", compare="clock"),
    e("UTC_TIMESTAMP", "UTC_TIMESTAMP()", compare="clock"),
    e("WEEK", "WEEK('2024-01-01')", 0),
    e("WEEK", "WEEK('2024-12-31', 1)", 53),
    e("WEEK", "WEEK('2024-12-31', 3)", 1),
    *[
        e(name, "SELECT " + ", ".join(f"{name}('{day}', {mode}) AS m{mode}" for mode in range(8)))
        for name in ("WEEK", "YEARWEEK")
        for day in ("2020-12-31", "2021-01-03", "2024-01-01", "2024-12-29", "2025-01-01", "2027-01-01")
    ],
    e("WEEKDAY", "WEEKDAY('2024-03-05')", 1),
    e("WEEKOFYEAR", "WEEKOFYEAR('2024-12-31')", 1),
    e("YEAR", "YEAR('2024-03-05')", 2024),
    e("YEARWEEK", "YEARWEEK('2024-01-01')", 202353),
    e("YEARWEEK", "YEARWEEK('2024-03-05')", 202409),
    e("YEARWEEK", "YEARWEEK('2024-12-31', 1)", 202501),
    e("YEARWEEK", "YEARWEEK(NULL)", None),
    # -- typed columns (DATE, DATETIME, DECIMAL) ---------------------------------------------------
    col("STR_TO_DATE", "STR_TO_DATE(time_slot, '%Y-%m-%d %H:%i')"),
    col("SUBSTRING_INDEX", "SUBSTRING_INDEX(time_slot, ' - ', -1)"),
    col("HOUR", "HOUR(day)"),
    col("HOUR", "HOUR(at)"),
    col("MINUTE", "MINUTE(at)"),
    col("SECOND", "SECOND(at)"),
    col("DATE_FORMAT", "DATE_FORMAT(day, '%Y-%m-%d %H:%i')"),
    col("DATE_FORMAT", "DATE_FORMAT(at, '%x-W%v %X-%V %a %p')"),
    col("WEEK", "WEEK(day, 3)"),
    col("WEEK", "WEEK(at)"),
    col("YEARWEEK", "YEARWEEK(at)"),
    col("YEARWEEK", "YEARWEEK(day, 1)"),
    col("ADDTIME", "ADDTIME(day, '01:00:00')"),
    col("ADDTIME", "ADDTIME(at, '00:00:01')"),
    col("TIMEDIFF", "TIMEDIFF(at, day)"),
    col("TIMEDIFF", "TIMEDIFF(at, '2024-03-05 00:00:00')"),
    col("DATEDIFF", "DATEDIFF(at, day)"),
    col("UNIX_TIMESTAMP", "UNIX_TIMESTAMP(at)"),
    col("UNIX_TIMESTAMP", "UNIX_TIMESTAMP(day)"),
    col("TIME", "TIME(at)"),
    col("TIMESTAMP", "TIMESTAMP(day)"),
    col("EXTRACT", "EXTRACT(YEAR_MONTH FROM day)"),
    col("EXTRACT", "EXTRACT(HOUR FROM at)"),
    col("TO_DAYS", "TO_DAYS(day)"),
    col("TO_SECONDS", "TO_SECONDS(at)"),
    col("LAST_DAY", "LAST_DAY(at)"),
    col("DAYNAME", "DAYNAME(at)"),
    col("MONTHNAME", "MONTHNAME(day)"),
    col("DATE_ADD", "DATE_ADD(day, INTERVAL 1 DAY)"),
    col("DATE_ADD", "DATE_ADD(day, INTERVAL 1 HOUR)"),
    col("DATE_SUB", "DATE_SUB(at, INTERVAL 30 SECOND)"),
    col("TIMESTAMPDIFF", "TIMESTAMPDIFF(HOUR, day, at)"),
    col("TIMESTAMPADD", "TIMESTAMPADD(HOUR, 1, day)"),
    col("CONVERT_TZ", "CONVERT_TZ(at, '+00:00', '+08:00')"),
    col("YEAR", "YEAR(day)"),
    col("QUARTER", "QUARTER(at)"),
    col("DAYOFWEEK", "DAYOFWEEK(day)"),
    col("WEEKDAY", "WEEKDAY(at)"),
    col("WEEKOFYEAR", "WEEKOFYEAR(day)"),
    col("DATE", "DATE(at)"),
    col("CONCAT", "CONCAT(day, ' / ', at)"),
    col("FORMAT", "FORMAT(amount, 1)"),
    col("ROUND", "ROUND(amount)"),
    col("ROUND", "ROUND(amount, -3)"),
    col("TRUNCATE", "TRUNCATE(amount, 0)"),
    col("CAST", "CAST(amount AS SIGNED)"),
    col("CEIL", "CEIL(amount)"),
    col("FLOOR", "FLOOR(amount)"),
    col("MOD", "MOD(amount, 7)"),
    col("GREATEST", "GREATEST(amount, 0)"),
    e("GROUP_CONCAT", "SELECT GROUP_CONCAT(day ORDER BY day DESC SEPARATOR ' ') AS v FROM " + TT),
    # -- casts and JSON ----------------------------------------------------------------------------
    e("CAST", "CAST('12' AS SIGNED)", 12),
    e("CAST", "CAST(1.7 AS SIGNED)", 2),
    e("CAST", "CAST('1.7' AS SIGNED)", 1),
    e("CAST", "CAST('2024-03-05' AS DATE)", "2024-03-05"),
    e("CAST", "CAST('2024-03-05 10:11:12' AS DATETIME)", "2024-03-05 10:11:12"),
    e("CAST", "CAST(3.14159 AS DECIMAL(5, 2))", 3.14),
    e("CAST", "CAST(12 AS CHAR)", "12"),
    e("CONVERT", "CONVERT('12', SIGNED)", 12),
    e("CONVERT", "CONVERT('abc' USING utf8mb4)", "abc"),
    e("BINARY", "BINARY 'abc'", "abc"),
    e("JSON_EXTRACT", "JSON_EXTRACT('{\"a\": {\"b\": [1, 2]}}', '$.a.b[1]')", 2, "json"),
    e("JSON_EXTRACT", "JSON_EXTRACT('{\"a\": \"x\"}', '$.a')", "x", "json"),
    e("JSON_EXTRACT", "JSON_EXTRACT('{\"a\": 1}', '$.b')", None),
    e("JSON_EXTRACT", "SELECT j->'$.k' AS v FROM " + T + " ORDER BY g, x", compare="json"),
    e("JSON_UNQUOTE", "JSON_UNQUOTE('\"abc\"')", "abc"),
    e("JSON_UNQUOTE", "JSON_UNQUOTE(JSON_EXTRACT('{\"a\": \"x\"}', '$.a'))", "x"),
    e("JSON_UNQUOTE", "SELECT j->>'$.k' AS v FROM " + T + " ORDER BY g, x"),
    e("JSON_CONTAINS", "JSON_CONTAINS('[1, 2, 3]', '2')", 1),
    e("JSON_CONTAINS", "JSON_CONTAINS('{\"a\": 1, \"b\": 2}', '1', '$.a')", 1),
    e("JSON_CONTAINS", "JSON_CONTAINS('[1, 2, 3]', '5')", 0),
    e("JSON_CONTAINS", 'JSON_CONTAINS(\'{"a": [1, 2], "b": "x"}\', \'{"a": [2]}\')', 1),
    e("JSON_LENGTH", "JSON_LENGTH('[1, 2, 3]')", 3),
    e("JSON_LENGTH", "JSON_LENGTH('{\"a\": [1, 2]}', '$.a')", 2),
    e("JSON_KEYS", 'JSON_KEYS(\'{"a": 1, "b": 2}\')', ["a", "b"], "json"),
    e("JSON_OBJECT", "JSON_OBJECT('a', 1, 'b', 'x')", {"a": 1, "b": "x"}, "json"),
    e("JSON_ARRAY", "JSON_ARRAY(1, 'a', NULL)", [1, "a", None], "json"),
    e("JSON_VALUE", "JSON_VALUE('{\"a\": {\"b\": 5}}', '$.a.b')", "5"),
    e("JSON_TYPE", "JSON_TYPE('[1]')", "ARRAY"),
    e("JSON_TYPE", "JSON_TYPE('{\"a\": 1}')", "OBJECT"),
    e("JSON_TYPE", "JSON_TYPE('1')", "INTEGER"),
    e("JSON_TYPE", "JSON_TYPE('\"x\"')", "STRING"),
    e("JSON_VALID", "JSON_VALID('{\"a\": 1}')", 1),
    e("JSON_VALID", "JSON_VALID('{a')", 0),
    e("JSON_VALID", "JSON_VALID(NULL)", None),
    e("JSON_SEARCH", "JSON_SEARCH('[\"abc\", \"def\"]', 'one', 'def')", "$[1]", "json"),
]


# -- the allow-list and its cases -----------------------------------------------------------------


def _allow_list() -> list[str]:
    text = resources.files("askdb.sql").joinpath("data/functions.txt").read_text(encoding="utf-8")
    return [word.upper() for line in text.splitlines() for word in line.split("#")[0].split()]


def test_every_allowed_function_has_a_case() -> None:
    covered = {case.name for case in CASES}
    missing = [name for name in _allow_list() if name not in covered]
    assert not missing, f"allow-listed functions without a parity case: {missing}"
    stray = sorted(covered - set(_allow_list()))
    assert not stray, f"cases for functions that are not allow-listed: {stray}"


# Operator spellings that call an allow-listed function.
_SPELLINGS = {
    "REGEXP_LIKE": ("REGEXP", "RLIKE"),
    "MOD": ("%",),
    "DATE_ADD": ("+ INTERVAL",),
    "DATE_SUB": ("- INTERVAL",),
    "JSON_EXTRACT": ("->",),
    "JSON_UNQUOTE": ("->>",),
}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.name}-{i}" for i, c in enumerate(CASES)])
def test_case_calls_its_function(case: Case) -> None:
    def mentions(word: str) -> bool:
        if not word[0].isalpha():
            return word in case.sql
        return re.search(rf"(?<!\w){word}(?!\w)", case.sql, re.IGNORECASE) is not None

    assert any(mentions(w) for w in (case.name, *_SPELLINGS.get(case.name, ()))), case.sql


# -- running a case ---------------------------------------------------------------------------------


def _guarded(case: Case) -> Any:
    verdict = check(case.statement, GuardContext(catalog=packaged_catalog(), row_limit=100))
    assert verdict.ok, verdict.violations
    return verdict.tree


def _norm(value: Any) -> Any:
    """A cell as a comparable plain value: numbers as floats, dates and times as MySQL writes them."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f" if value.microsecond else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):  # pymysql reads a TIME as a timedelta
        whole, micro = divmod(abs(value) // timedelta(microseconds=1), 1_000_000)
        text = f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}" + (
            f".{micro:06d}" if micro else ""
        )
        return ("-" if value < timedelta(0) else "") + text
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "0x" + raw.hex()
    return str(value)


def _as_json(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return value  # compared as it is, so the failure shows the text


def _seconds(value: Any) -> float:
    if isinstance(value, float):  # UNIX_TIMESTAMP()
        return value
    text = str(value)
    if re.fullmatch(r"-?\d+:\d\d:\d\d(\.\d+)?", text):
        h, m, s = text.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    moment = datetime.fromisoformat(text)
    return (moment - datetime(1970, 1, 1)).total_seconds()


def _same(a: Any, b: Any, case: Case) -> bool:
    compare = case.compare
    if compare == "json":
        a, b = _as_json(a), _as_json(b)
    if a is None or b is None:
        return a is b
    if compare == "clock":
        gap = abs(_seconds(a) - _seconds(b))
        return (min(gap, 86400 - gap) if gap < 86400 else gap) <= 2  # a time of day may wrap at midnight
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=case.rel_tol, abs_tol=1e-9)
    return bool(a == b)


def _rows(runner: SqlAlchemyRunner, case: Case) -> list[list[Any]]:
    return [[_norm(v) for v in row] for row in run_tree(runner, _guarded(case)).rows()]


def _agree(left: list[list[Any]], right: list[list[Any]], case: Case) -> bool:
    return len(left) == len(right) and all(
        len(x) == len(y) and all(_same(u, v, case) for u, v in zip(x, y)) for x, y in zip(left, right)
    )


@pytest.fixture(scope="module")
def sqlite_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlAlchemyRunner]:
    path: Path = tmp_path_factory.mktemp("parity") / "empty.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE placeholder (a INTEGER)")
    connection.close()
    runner = open_runner(f"sqlite:///{path}")
    yield runner
    runner.engine.dispose()


@pytest.fixture(scope="module")
def mariadb_runner() -> Iterator[SqlAlchemyRunner]:
    """A runner on a fresh, empty MariaDB database (the server is part of the test setup: no skip)."""
    admin = mariadb_admin()
    name = f"askdb_test_fn_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    runner = open_runner(mysql_url(name))
    try:
        yield runner
    finally:
        runner.engine.dispose()
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def _check_expected(rows: list[list[Any]], case: Case) -> None:
    if case.expected is MISSING:
        return
    expected = case.expected if case.compare == "json" else _norm(case.expected)
    assert rows and _same(rows[0][-1], expected, case), (rows, case.expected)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.name}-{i}" for i, c in enumerate(CASES)])
def test_function_runs_on_sqlite_as_mysql_would(case: Case, sqlite_runner: SqlAlchemyRunner) -> None:
    rows = _rows(sqlite_runner, case)
    assert rows
    _check_expected(rows, case)


@pytest.mark.mariadb
@pytest.mark.parametrize("case", CASES, ids=[f"{c.name}-{i}" for i, c in enumerate(CASES)])
def test_function_gives_the_same_result_on_sqlite_and_mariadb(
    case: Case, sqlite_runner: SqlAlchemyRunner, mariadb_runner: SqlAlchemyRunner
) -> None:
    maria = _rows(mariadb_runner, case)
    _check_expected(maria, case)
    lite = _rows(sqlite_runner, case)
    assert _agree(lite, maria, case), f"SQLite {lite} != MariaDB {maria}"
