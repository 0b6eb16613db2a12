import scipy, numpy as np
from scipy import stats as S
print(scipy.__version__)
cases = {
 'small_distinct': ([1.1,2.2,3.3,4.4,5.5],[3.5,6.6,7.7,8.8,9.9,10.1]),
 'separated5': ([1,2,3,4,5],[6,7,8,9,10]),
 'overlap3': ([1,4,7],[2,5,8]),
 'unequal': ([0.5,1.5,2.5,9.0],[1.0,3.0,4.0,5.0,6.0,7.0,8.0]),
 'ties': ([1,2,2,3,3,3,4],[2,3,4,4,5,5,6,7]),
}
for k,(x,y) in cases.items():
    m = S.mannwhitneyu(x,y,alternative='two-sided',method='exact' if k!='ties' else 'asymptotic')
    ks = S.ks_2samp(x,y,method='exact')
    print(k, repr(m.statistic), repr(m.pvalue), repr(ks.statistic), repr(ks.pvalue))
rng=np.random.default_rng(1)
x=np.round(rng.lognormal(1,0.5,60),3); y=np.round(rng.lognormal(1.2,0.5,70),3)
m=S.mannwhitneyu(x,y,alternative='two-sided',method='asymptotic'); ks=S.ks_2samp(x,y,method='exact'); ksa=S.ks_2samp(x,y,method='asymp')
print('large', repr(m.statistic), repr(m.pvalue), repr(ks.statistic), repr(ks.pvalue), repr(ksa.pvalue))
print('X', ','.join(map(str,x))); print('Y', ','.join(map(str,y)))
x2=[float(v) for v in range(1,40,2)]; y2=[float(v)+0.5 for v in range(10,60,2)]
m=S.mannwhitneyu(x2,y2,alternative='two-sided',method='exact'); ks=S.ks_2samp(x2,y2,method='exact')
print('mid', repr(m.statistic), repr(m.pvalue), repr(ks.statistic), repr(ks.pvalue))
x3=np.round(rng.normal(0,1,150),4); y3=np.round(rng.normal(0.3,1,120),4)
ksa=S.ks_2samp(x3,y3,method='asymp'); print('ksbig', repr(ksa.statistic), repr(ksa.pvalue))
print('X3', ','.join(map(str,x3))); print('Y3', ','.join(map(str,y3)))
