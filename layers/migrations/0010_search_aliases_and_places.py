from django.db import migrations

# As migration 0007's, and a hyphen is a space: "Al-Jahra" is "Al Jahra", "Abdullah Al-Salem" "abdullah al salem".
NORMALIZE = r"""
CREATE OR REPLACE FUNCTION geoportal_search_normalize(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT regexp_replace(
    translate(lower(value), 'أإآٱىةؤئ٠١٢٣٤٥٦٧٨٩-', 'اااايهوي0123456789 '),
    '[\u064B-\u065F\u0670\u0640]', '', 'g')
$$
"""
NORMALIZE_BEFORE = NORMALIZE.replace("٩-', 'اااايهوي0123456789 ')", "٩', 'اااايهوي0123456789')")

# Other ways people write a name with an ordinal in it: "Fourth Ring Road" is also "4th ring road", "4 ring road"
# and "ring road 4"; "الدائري الرابع" is also "الدائري 4". Searched, not shown. IMMUTABLE, as the index needs.
ALIASES = r"""
CREATE OR REPLACE FUNCTION geoportal_search_aliases(name_ar text, name_en text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  en text := lower(coalesce(name_en, ''));
  ar text := geoportal_search_normalize(coalesce(name_ar, ''));
  ordinal record;
  aliases text[] := '{}';
BEGIN
  FOR ordinal IN SELECT * FROM (VALUES
      (1, 'first', '1st', 'الاول'), (2, 'second', '2nd', 'الثاني'), (3, 'third', '3rd', 'الثالث'),
      (4, 'fourth', '4th', 'الرابع'), (5, 'fifth', '5th', 'الخامس'), (6, 'sixth', '6th', 'السادس'),
      (7, 'seventh', '7th', 'السابع'), (8, 'eighth', '8th', 'الثامن'), (9, 'ninth', '9th', 'التاسع'),
      (10, 'tenth', '10th', 'العاشر')) AS o (n, word, short, word_ar)
  LOOP
    IF en ~ ('\m' || ordinal.word || '\M') THEN
      aliases := aliases
        || regexp_replace(en, '\m' || ordinal.word || '\M', ordinal.short, 'g')
        || regexp_replace(en, '\m' || ordinal.word || '\M', ordinal.n::text, 'g')
        || (trim(regexp_replace(en, '\m' || ordinal.word || '\M', '', 'g')) || ' ' || ordinal.n);
    END IF;
    IF ar ~ ('(^|\s)' || ordinal.word_ar || '($|\s)') THEN
      aliases := aliases || regexp_replace(ar, '(^|\s)' || ordinal.word_ar || '($|\s)', '\1' || ordinal.n || '\2', 'g');
    END IF;
  END LOOP;
  RETURN array_to_string(aliases, ' ');
END $$;
"""

# The index again, as layers/services/search.py now writes it: a street's and a landmark's area names and a
# street's blocks are searched too ("شارع 5 السالمية", "Salmiya block 10"), and every name's aliases.
REBUILD = """
DELETE FROM layers_searchentry;
INSERT INTO layers_searchentry (layer, key, name_ar, name_en, detail, search_text, point)
SELECT layer, key, name_ar, name_en, detail,
       geoportal_search_normalize(concat_ws(' ', name_ar, name_en, key, extra,
                                            geoportal_search_aliases(name_ar, name_en))), point
FROM (
  SELECT 'governorates' AS layer, code AS key, name_ar, name_en, '' AS detail, '' AS extra,
         ST_PointOnSurface(geom) AS point FROM layers_governorate
  UNION ALL SELECT 'areas', code, name_ar, name_en, '', '', ST_PointOnSurface(geom) FROM layers_area
  UNION ALL SELECT 'streets', s.code, s.name_ar, s.name_en, s.street_class,
         concat_ws(' ', s.number, a.name_ar, a.name_en,
                   (SELECT string_agg('block ' || b.number || ' قطعة ' || b.number, ' ' ORDER BY b.number)
                    FROM layers_street_blocks sb JOIN layers_block b ON b.id = sb.block_id WHERE sb.street_id = s.id)),
         ST_ClosestPoint(s.geom, ST_Centroid(s.geom))
         FROM layers_street s LEFT JOIN layers_area a ON a.id = s.area_id WHERE s.retired_on IS NULL
  UNION ALL SELECT 'landmarks', l.code, l.name_ar, l.name_en, l.category, concat_ws(' ', a.name_ar, a.name_en), l.geom
         FROM layers_landmark l LEFT JOIN layers_area a ON a.id = l.area_id WHERE l.retired_on IS NULL
) AS features;
"""


class Migration(migrations.Migration):
    dependencies = [("layers", "0009_changeevent_layer_feed_order")]

    operations = [
        migrations.RunSQL(NORMALIZE, NORMALIZE_BEFORE),
        migrations.RunSQL(ALIASES, "DROP FUNCTION geoportal_search_aliases(text, text)"),
        migrations.RunSQL(REBUILD, migrations.RunSQL.noop),
    ]
